"""The per-run state of `LoggingCallback`: its episode window, the moving average of
the logged return, and the events waiting to cross."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from lerax import host

from .._state import AbstractCallbackState
from ._episode_window import EpisodeWindow


class MovingReturn(eqx.Module):
    """Moving average (and moving std) of the mean episode return of log events.

    Attributes:
        mean: EMA of the per-event mean episode return.
        square: EMA of its square (for the moving std).
        started: Whether any event had finished episodes yet.
    """

    mean: Float[Array, ""]
    square: Float[Array, ""]
    started: Bool[Array, ""]

    @classmethod
    def initial(cls) -> MovingReturn:
        return cls(jnp.zeros(()), jnp.zeros(()), jnp.asarray(False))

    def add(
        self, mean_return: Float[Array, ""], has_episodes: Bool[Array, ""], alpha: float
    ) -> MovingReturn:
        """With one more event's mean return, weight `alpha` (the first event's return
        starts it); unchanged when the event had no finished episodes."""
        mean = jnp.where(self.started, alpha * mean_return + (1 - alpha) * self.mean, mean_return)
        square = jnp.where(
            self.started, alpha * mean_return**2 + (1 - alpha) * self.square, mean_return**2
        )
        return MovingReturn(
            mean=jnp.where(has_episodes, mean, self.mean),
            square=jnp.where(has_episodes, square, self.square),
            started=self.started | has_episodes,
        )

    def scalars(self) -> dict[str, Float[Array, ""]]:
        """`reward/moving_avg` and the band one moving std around it (NaN before any)."""
        std = jnp.sqrt(jnp.maximum(self.square - self.mean**2, 0.0))
        nan = jnp.asarray(jnp.nan)
        return {
            "reward/moving_avg": jnp.where(self.started, self.mean, nan),
            "reward/moving_upper": jnp.where(self.started, self.mean + std, nan),
            "reward/moving_lower": jnp.where(self.started, self.mean - std, nan),
        }


class LoggingCallbackState(AbstractCallbackState):
    """Per-run state of `LoggingCallback`.

    Attributes:
        window: Episodes since the last log event and per-env moving averages.
        moving: The moving average of the logged mean return, as of the last event.
        events: The log events not yet crossed to the host (see
            `lerax.host.EventBuffer`); its `schema` is the layout of every event of
            the run, set at every iteration.
        last_train: The latest iteration's training values, encoded as the tail of an
            `events` row: if training stops early after an iteration that was not
            due, `on_training_end` completes that iteration's event with them (the
            rest is in `window`, `moving` and the counters), so the last iteration is
            always logged.
        last_pending: Whether the latest iteration's event was not logged.
        ack: Host acknowledgements (keeps crossings in program order).
    """

    window: EpisodeWindow
    moving: MovingReturn
    events: host.EventBuffer
    last_train: Int[Array, " max_scalars"]
    last_pending: Bool[Array, ""]
    ack: Int[Array, ""]

    @classmethod
    def initial(cls, num_envs: int, buffer_size: int, max_scalars: int) -> LoggingCallbackState:
        """The state of a run with `num_envs` envs, before any iteration."""
        return cls(
            window=EpisodeWindow.initial(num_envs),
            moving=MovingReturn.initial(),
            events=host.EventBuffer.empty(buffer_size, max_scalars),
            last_train=jnp.zeros((max_scalars,), jnp.int32),
            last_pending=jnp.asarray(False),
            ack=jnp.zeros((), jnp.int32),
        )
