"""Rendering a deterministic-policy rollout to frames, on the device."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Key, UInt8

from lerax.env import AbstractEnv, to_env_action
from lerax.env.wrapper import AutoReset
from lerax.policy import AbstractPolicy


def render_episode(
    env: AbstractEnv,
    policy: AbstractPolicy,
    num_steps: int,
    width: int,
    height: int,
    *,
    key: Key[Array, ""],
) -> UInt8[Array, "num_steps height width 3"]:
    """Roll out the deterministic policy for `num_steps` steps and render every state.

    The first frame is the reset state; an episode that ends is followed by a fresh
    one (auto-reset), so the clip always has `num_steps` frames.
    """
    wrapped = AutoReset(env)
    reset_key, run_key = jr.split(key)
    state, observation = wrapped.reset(key=reset_key)

    def step(carry, t):
        state, observation = carry
        frame = env.render(state.env_state, width=width, height=height)
        action = to_env_action(env, policy.predict(observation))
        state, observation, *_ = wrapped.step(state, action, key=jr.fold_in(run_key, t))
        return (state, observation), frame

    _, frames = jax.lax.scan(step, (state, observation), jnp.arange(num_steps))
    return frames
