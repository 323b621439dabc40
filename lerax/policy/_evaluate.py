"""Evaluating a policy inside a compiled program."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, Key

from lerax.env import AbstractEnv, to_env_action
from lerax.env._episode_limit import episode_steps

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
    steps (default: the env's time limit, `lerax.env.episode_limit`, else 1000). The
    loop ends as soon as every episode has ended, so short episodes cost little.
    Jittable, vmappable.

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
        max_steps = episode_steps(env)
    reset_key, run_key = jr.split(key)
    env_state, observation = jax.vmap(lambda k: env.reset(key=k))(jr.split(reset_key, num_episodes))
    zeros = jnp.zeros(num_episodes)

    def step(carry):
        t, env_state, observation, total, length, done = carry
        keys = jr.split(jr.fold_in(run_key, t), (2, num_episodes))

        def one(s, o, act_key, env_key):
            action = policy.predict(o, key=None if deterministic else act_key)
            return env.step(s, to_env_action(env, action), key=env_key)

        env_state, observation, reward, terminated, truncated, _ = jax.vmap(one)(
            env_state, observation, keys[0], keys[1]
        )
        total = total + jnp.where(done, 0.0, reward)
        length = length + jnp.where(done, 0, 1)
        done = done | terminated | truncated
        return t + 1, env_state, observation, total, length, done

    def running(carry):
        t, *_, done = carry
        return (t < max_steps) & ~jnp.all(done)

    init = (
        jnp.zeros((), jnp.int32),
        env_state,
        observation,
        zeros,
        zeros.astype(jnp.int32),
        jnp.zeros(num_episodes, bool),
    )
    _, _, _, total, length, _ = jax.lax.while_loop(running, step, init)
    return total, length
