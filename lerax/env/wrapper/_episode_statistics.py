"""Track the return and length of episodes."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key

from .._abstract import AbstractEnv, AbstractEnvState
from ._abstract import AbstractSpacePreservingWrapper, AbstractWrapperState, reset_episode


class EpisodeStatisticsState(AbstractWrapperState):
    """State of `EpisodeStatistics`.

    Attributes:
        env_state: The inner environment's state.
        episode_return: Sum of rewards of the running episode so far.
        episode_length: Steps of the running episode so far.
        last_return: Return of the last finished episode (0 before any).
        last_length: Length of the last finished episode (0 before any).
    """

    env_state: AbstractEnvState
    episode_return: Float[Array, ""]
    episode_length: Int[Array, ""]
    last_return: Float[Array, ""]
    last_length: Int[Array, ""]


class EpisodeStatistics(AbstractSpacePreservingWrapper[EpisodeStatisticsState]):
    """Add the undiscounted return and the length of finished episodes to `info`.

    Every step adds three entries to `info`:

    * `episode_done` (`bool`): `terminated | truncated` of this step;
    * `episode_return` (`float32`): when `episode_done`, the sum of the rewards
      of the episode that just ended (this step's reward included); otherwise
      the return of the last finished episode (0 before any has finished);
    * `episode_length` (`int32`): likewise, the number of steps of that episode.

    The running counters restart when an episode ends; `reset_episode` keeps the
    last finished episode's values (only `reset` clears them), so the wrapper
    may sit inside or outside `AutoReset`. Place it inside reward normalisation
    to record raw rewards.

    Args:
        env: The environment to wrap.
    """

    env: AbstractEnv

    def reset(self, *, key: Key[Array, ""]) -> tuple[EpisodeStatisticsState, Array]:
        env_state, observation = self.env.reset(key=key)
        zero_float, zero_int = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        state = EpisodeStatisticsState(env_state, zero_float, zero_int, zero_float, zero_int)
        return state, observation

    def reset_episode(
        self, state: EpisodeStatisticsState, *, key: Key[Array, ""]
    ) -> tuple[EpisodeStatisticsState, Array]:
        env_state, observation = reset_episode(self.env, state.env_state, key=key)
        new_state = EpisodeStatisticsState(
            env_state,
            jnp.zeros((), jnp.float32),
            jnp.zeros((), jnp.int32),
            state.last_return,
            state.last_length,
        )
        return new_state, observation

    def step(
        self, state: EpisodeStatisticsState, action: Array, *, key: Key[Array, ""]
    ) -> tuple[
        EpisodeStatisticsState,
        Array,
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        env_state, observation, reward, terminated, truncated, info = self.env.step(
            state.env_state, action, key=key
        )
        done = terminated | truncated
        episode_return = state.episode_return + reward.astype(jnp.float32)
        episode_length = state.episode_length + 1
        last_return = jnp.where(done, episode_return, state.last_return)
        last_length = jnp.where(done, episode_length, state.last_length)
        new_state = EpisodeStatisticsState(
            env_state,
            jnp.where(done, 0.0, episode_return),
            jnp.where(done, 0, episode_length),
            last_return,
            last_length,
        )
        info = {
            **info,
            "episode_return": last_return,
            "episode_length": last_length,
            "episode_done": done,
        }
        return new_state, observation, reward, terminated, truncated, info
