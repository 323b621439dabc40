"""Truncate episodes after a fixed number of steps."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Key

from .._abstract import AbstractEnv, AbstractEnvState, AbstractTimeLimitedEnv
from ._abstract import AbstractSpacePreservingWrapper, AbstractWrapperState, reset_episode


class TimeLimitState(AbstractWrapperState):
    """State of `TimeLimit`.

    Attributes:
        env_state: The inner environment's state.
        elapsed_steps: Steps taken since the last reset.
    """

    env_state: AbstractEnvState
    elapsed_steps: Int[Array, ""]


class TimeLimit(
    AbstractSpacePreservingWrapper[TimeLimitState], AbstractTimeLimitedEnv[TimeLimitState]
):
    """Set `truncated` once `max_episode_steps` steps have been taken since reset.

    As in Gymnasium, `truncated` is `inner_truncated | (elapsed >= max)`,
    independently of `terminated` (both may be true). The wrapper does not reset
    the env: combine with `AutoReset` (outside `TimeLimit`).

    Args:
        env: The environment to wrap.
        max_episode_steps: A positive int.

    Raises:
        ValueError: if `max_episode_steps` is not a positive int.
    """

    env: AbstractEnv
    max_episode_steps: int = eqx.field(static=True)

    def __init__(self, env: AbstractEnv, max_episode_steps: int):
        if (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, (int, np.integer))
            or max_episode_steps <= 0
        ):
            raise ValueError(
                f"TimeLimit: `max_episode_steps` must be a positive int, got {max_episode_steps!r}."
            )
        self.env = env
        self.max_episode_steps = int(max_episode_steps)

    def reset(self, *, key: Key[Array, ""]) -> tuple[TimeLimitState, Array]:
        env_state, observation = self.env.reset(key=key)
        return TimeLimitState(env_state, jnp.zeros((), jnp.int32)), observation

    def reset_episode(
        self, state: TimeLimitState, *, key: Key[Array, ""]
    ) -> tuple[TimeLimitState, Array]:
        env_state, observation = reset_episode(self.env, state.env_state, key=key)
        return TimeLimitState(env_state, jnp.zeros((), jnp.int32)), observation

    def step(
        self, state: TimeLimitState, action: Array, *, key: Key[Array, ""]
    ) -> tuple[
        TimeLimitState, Array, Float[Array, ""], Bool[Array, ""], Bool[Array, ""], dict[str, Any]
    ]:
        env_state, observation, reward, terminated, truncated, info = self.env.step(
            state.env_state, action, key=key
        )
        elapsed_steps = state.elapsed_steps + 1
        truncated = truncated | (elapsed_steps >= self.max_episode_steps)
        new_state = TimeLimitState(env_state, elapsed_steps)
        return new_state, observation, reward, terminated, truncated, info
