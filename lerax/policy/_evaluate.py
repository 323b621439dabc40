"""Evaluating a policy inside a compiled program."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, Key

from lerax.env import AbstractEnv
from lerax.space import Box

from ._abstract import AbstractPolicy


def evaluate_policy(
    env: AbstractEnv,
    policy: AbstractPolicy,
    *,
    num_episodes: int,
    key: Key[Array, ""],
    deterministic: bool = True,
    max_steps: int | None = None,
) -> tuple[Float[Array, " num_episodes"], Int[Array, " num_episodes"]]:
    """Run `num_episodes` episodes in parallel (vmapped) and return their returns.

    Each episode runs until it terminates or is truncated, or for at most `max_steps`
    steps (default: the env's `max_episode_steps`, else 1000). Jittable, vmappable.

    Args:
        env: The environment.
        policy: The policy to evaluate.
        num_episodes: Number of episodes (static).
        key: PRNG key (initial states; actions when not deterministic).
        deterministic: Use the mode / greedy action.
        max_steps: Step cap per episode (static).

    Returns:
        `(returns, lengths)`, one entry per episode.
    """
    if max_steps is None:
        max_steps = int(getattr(env, "max_episode_steps", 1000))

    def episode(k):
        reset_key, run_key = jr.split(k)
        env_state, observation = env.reset(key=reset_key)

        def step(carry, t):
            env_state, observation, total, length, done = carry
            act_key, env_key = jr.split(jr.fold_in(run_key, t))
            action = policy.predict(observation, key=None if deterministic else act_key)
            env_state, observation, reward, terminated, truncated, _ = env.step(
                env_state, _clip(env, action), key=env_key
            )
            total = total + jnp.where(done, 0.0, reward)
            length = length + jnp.where(done, 0, 1)
            done = done | terminated | truncated
            return (env_state, observation, total, length, done), None

        init = (env_state, observation, jnp.zeros(()), jnp.zeros((), jnp.int32), jnp.asarray(False))
        (_, _, total, length, _), _ = jax.lax.scan(step, init, jnp.arange(max_steps))
        return total, length

    return jax.vmap(episode)(jr.split(key, num_episodes))


def _clip(env: AbstractEnv, action: Array) -> Array:
    space = env.action_space
    return space.clip(action) if isinstance(space, Box) else action
