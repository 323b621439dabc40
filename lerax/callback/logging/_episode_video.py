"""Rendering ONE deterministic-policy episode to frames, on the device."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Int, Key, UInt8

from lerax.env import AbstractEnv, to_env_action
from lerax.env import episode_limit as episode_limit  # re-exported (its former home)
from lerax.policy import AbstractPolicy


def render_until_done(
    env: AbstractEnv,
    policy: AbstractPolicy,
    max_steps: int,
    width: int,
    height: int,
    *,
    key: Key[Array, ""],
) -> tuple[UInt8[Array, "max_steps+1 height width 3"], Int[Array, ""]]:
    """Roll out the deterministic policy for one episode and render every state.

    Frame 0 is the reset state and frame `t` the state after `t` steps, up to and
    including the step that terminated or truncated the episode (no auto-reset), or
    `max_steps` steps if the episode lasts longer. Shapes are static, so the frames
    come in a buffer of `max_steps + 1`; the first `num_frames = length + 1` are the
    episode and the rest repeat its last state.

    With the same key the episode follows the same trajectory as `render_episode`
    (same reset key, same step keys), so their first `length` frames are equal.

    Args:
        env: The environment (rendered with `env.render`).
        policy: The policy; its deterministic action (`predict` without a key) is
            clipped into the action space.
        max_steps: Step cap (static).
        width: Frame width in pixels.
        height: Frame height in pixels.
        key: PRNG key (initial state and env steps).

    Returns:
        `(frames, num_frames)`: `uint8` frames of shape
        `(max_steps + 1, height, width, 3)` and the number of valid ones.
    """
    reset_key, run_key = jr.split(key)
    state, observation = env.reset(key=reset_key)
    first = env.render(state, width=width, height=height)

    def step(carry, t):
        state, observation, done = carry
        action = to_env_action(env, policy.predict(observation))
        new_state, new_observation, _, terminated, truncated, _ = env.step(
            state, action, key=jr.fold_in(run_key, t)
        )
        state = jax.tree.map(lambda new, old: jnp.where(done, old, new), new_state, state)
        observation = jnp.where(done, observation, new_observation)
        frame = env.render(state, width=width, height=height)
        return (state, observation, done | terminated | truncated), (frame, done)

    init = (state, observation, jnp.asarray(False))
    _, (frames, was_done) = jax.lax.scan(step, init, jnp.arange(max_steps))
    length = max_steps - jnp.sum(was_done.astype(jnp.int32))
    return jnp.concatenate([first[None], frames]), length + 1
