"""`LoggingCallback`'s episode accounting, from the driver's per-iteration statistics."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from .._episodes import EpisodeStatistics, episode_ema
from .._state import AbstractCallbackState


class EpisodeWindow(AbstractCallbackState):
    """Episode statistics since the last log event, and per-env moving averages.

    Updated once per iteration from `IterationContext.episodes` (no per-step work).

    Attributes:
        average_return: Per env, EMA of finished episodes' returns; it starts AT the
            first finished episode's return (no bias towards 0).
        average_length: Per env, EMA of their lengths (same convention).
        episodes: Per env, episodes finished so far.
        count: Episodes finished (all envs) since the last log event.
        return_sum: Sum of their returns.
        return_min: Smallest of their returns (+inf when none).
        return_max: Largest (-inf when none).
        length_sum: Sum of their lengths.
    """

    average_return: Float[Array, " num_envs"]
    average_length: Float[Array, " num_envs"]
    episodes: Int[Array, " num_envs"]
    count: Int[Array, ""]
    return_sum: Float[Array, ""]
    return_min: Float[Array, ""]
    return_max: Float[Array, ""]
    length_sum: Float[Array, ""]

    @classmethod
    def initial(cls, num_envs: int) -> EpisodeWindow:
        """Before any episode."""
        nan = jnp.full((num_envs,), jnp.nan)
        return cls(
            average_return=nan,
            average_length=nan,
            episodes=jnp.zeros((num_envs,), jnp.int32),
            count=jnp.zeros((), jnp.int32),
            return_sum=jnp.zeros(()),
            return_min=jnp.asarray(jnp.inf),
            return_max=jnp.asarray(-jnp.inf),
            length_sum=jnp.zeros(()),
        )

    def add(self, episodes: EpisodeStatistics, alpha: float) -> EpisodeWindow:
        """This window with one iteration's episodes added."""
        lengths = episodes.lengths.astype(episodes.returns.dtype)
        return EpisodeWindow(
            average_return=episode_ema(
                self.average_return, self.episodes, episodes.done, episodes.returns, alpha
            ),
            average_length=episode_ema(
                self.average_length, self.episodes, episodes.done, lengths, alpha
            ),
            episodes=self.episodes + episodes.count,
            count=self.count + jnp.sum(episodes.count),
            return_sum=self.return_sum + jnp.sum(episodes.return_sum),
            return_min=jnp.minimum(self.return_min, jnp.min(episodes.return_min)),
            return_max=jnp.maximum(self.return_max, jnp.max(episodes.return_max)),
            length_sum=self.length_sum + jnp.sum(episodes.length_sum),
        )

    def restart(self, when: Bool[Array, ""]) -> EpisodeWindow:
        """This window emptied (the moving averages kept) where `when` holds."""
        return EpisodeWindow(
            average_return=self.average_return,
            average_length=self.average_length,
            episodes=self.episodes,
            count=jnp.where(when, 0, self.count),
            return_sum=jnp.where(when, 0.0, self.return_sum),
            return_min=jnp.where(when, jnp.inf, self.return_min),
            return_max=jnp.where(when, -jnp.inf, self.return_max),
            length_sum=jnp.where(when, 0.0, self.length_sum),
        )

    def scalars(self) -> dict[str, Array]:
        """The window's episode metrics (NaN where no episode finished)."""
        count = self.count
        has = count > 0
        started = self.episodes > 0
        nan = jnp.asarray(jnp.nan)
        return {
            "episode/return_ema": jnp.sum(jnp.where(started, self.average_return, 0.0))
            / started.sum(),
            "episode/length_ema": jnp.sum(jnp.where(started, self.average_length, 0.0))
            / started.sum(),
            "episode/return_mean": self.return_sum / count,
            "episode/return_min": jnp.where(has, self.return_min, nan),
            "episode/return_max": jnp.where(has, self.return_max, nan),
            "episode/length_mean": self.length_sum / count,
            "episode/count": count,
        }
