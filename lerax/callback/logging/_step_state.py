"""Per-env episode accounting for `LoggingCallback`."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._state import AbstractCallbackStepState


class LoggingCallbackStepState(AbstractCallbackStepState):
    """Per-env episode statistics, updated once per env step.

    Attributes:
        step: Steps taken by this env.
        episode_return: Return of the episode in progress.
        episode_length: Length of the episode in progress.
        episode_done: Whether the previous step ended an episode.
        average_return: EMA of finished episodes' returns. It starts AT the first
            finished episode's return (no bias towards 0); NaN before any episode.
        average_length: EMA of finished episodes' lengths (same convention).
        episodes: Episodes finished by this env.
        window: Index of the log window the `window_*` fields describe.
        window_count: Episodes finished in that window.
        window_return_sum: Sum of their returns.
        window_return_min: Minimum of their returns (+inf when none).
        window_return_max: Maximum of their returns (-inf when none).
        window_length_sum: Sum of their lengths.
    """

    step: Int[Array, ""]
    episode_return: Float[Array, ""]
    episode_length: Int[Array, ""]
    episode_done: Bool[Array, ""]
    average_return: Float[Array, ""]
    average_length: Float[Array, ""]
    episodes: Int[Array, ""]
    window: Int[Array, ""]
    window_count: Int[Array, ""]
    window_return_sum: Float[Array, ""]
    window_return_min: Float[Array, ""]
    window_return_max: Float[Array, ""]
    window_length_sum: Float[Array, ""]

    @classmethod
    def initial(cls) -> LoggingCallbackStepState:
        """The state before any step."""
        zero = jnp.zeros((), jnp.int32)
        return cls(
            step=zero,
            episode_return=jnp.zeros(()),
            episode_length=zero,
            episode_done=jnp.asarray(False),
            average_return=jnp.asarray(jnp.nan),
            average_length=jnp.asarray(jnp.nan),
            episodes=zero,
            window=zero,
            window_count=zero,
            window_return_sum=jnp.zeros(()),
            window_return_min=jnp.asarray(jnp.inf),
            window_return_max=jnp.asarray(-jnp.inf),
            window_length_sum=jnp.zeros(()),
        )

    def next(
        self,
        reward: Float[ArrayLike, ""],
        done: Bool[ArrayLike, ""],
        alpha: Float[ArrayLike, ""],
        *,
        window: Int[ArrayLike, ""] | None = None,
    ) -> LoggingCallbackStepState:
        """Advance by one env step.

        Args:
            reward: The step's raw reward.
            done: Whether the step ended the episode (terminated or truncated).
            alpha: EMA weight on the newest episode, in (0, 1].
            window: The log window this step belongs to; when it differs from
                `self.window` the window statistics restart. `None` keeps the window.

        Returns:
            The new state.
        """
        done = jnp.asarray(done, dtype=bool)
        episode_return = self.episode_return + reward
        episode_length = self.episode_length + 1
        first = self.episodes == 0
        average_return = jnp.where(
            first, episode_return, alpha * episode_return + (1 - alpha) * self.average_return
        )
        average_length = jnp.where(
            first,
            episode_length.astype(jnp.float32),
            alpha * episode_length + (1 - alpha) * self.average_length,
        )
        window = self.window if window is None else jnp.asarray(window, jnp.int32)
        fresh = window != self.window
        count = jnp.where(fresh, 0, self.window_count)
        return_sum = jnp.where(fresh, 0.0, self.window_return_sum)
        return_min = jnp.where(fresh, jnp.inf, self.window_return_min)
        return_max = jnp.where(fresh, -jnp.inf, self.window_return_max)
        length_sum = jnp.where(fresh, 0.0, self.window_length_sum)
        return LoggingCallbackStepState(
            step=self.step + 1,
            episode_return=jnp.where(done, 0.0, episode_return),
            episode_length=jnp.where(done, 0, episode_length),
            episode_done=done,
            average_return=jnp.where(done, average_return, self.average_return),
            average_length=jnp.where(done, average_length, self.average_length),
            episodes=self.episodes + done.astype(jnp.int32),
            window=window,
            window_count=count + done.astype(jnp.int32),
            window_return_sum=return_sum + jnp.where(done, episode_return, 0.0),
            window_return_min=jnp.where(done, jnp.minimum(return_min, episode_return), return_min),
            window_return_max=jnp.where(done, jnp.maximum(return_max, episode_return), return_max),
            window_length_sum=length_sum + jnp.where(done, episode_length, 0),
        )
