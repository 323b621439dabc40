"""`StopOnMaxEpisodes`: stop once a number of episodes has finished."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Int, Key

from lerax import host
from lerax._checks import as_scalar_array

from .._context import IterationContext, ResetContext
from .._state import AbstractCallbackState
from ._common import (
    AbstractStoppingCallback,
    StopReason,
    StopRecord,
    show_scalar,
)
from ._report import StopPrinter


class StopOnMaxEpisodesState(AbstractCallbackState):
    """Per-run state of `StopOnMaxEpisodes`.

    Attributes:
        stopped: Whether the limit was reached (training stops after `stop_iteration`).
        stop_iteration: The iteration after which training stopped (-1 if it did not).
        reason: A `StopReason` code (`MAX_EPISODES` once stopped, else `NONE`).
        ack: Host acknowledgements (keeps crossings in program order).
    """

    stopped: Bool[Array, ""]
    stop_iteration: Int[Array, ""]
    reason: Int[Array, ""]
    ack: Int[Array, ""]


class StopOnMaxEpisodes(AbstractStoppingCallback[StopOnMaxEpisodesState]):
    """Stop training after the first iteration at whose end at least `n` episodes
    have finished (`IterationContext.num_episodes`, summed over envs).

    Episodes finish inside an iteration's rollout, so the run may overshoot `n` by
    the episodes of its last iteration. When it triggers it prints one line on the
    host.

    Args:
        n: The number of episodes: an int >= 1, or an integer scalar array (it may be
            traced, e.g. vmapped over).

    Raises:
        TypeError: if `n` is not an integer scalar.
        ValueError: if `n < 1`.
    """

    n: Int[Array, ""]

    def __init__(self, n: Int[ArrayLike, ""]):
        self.n = as_scalar_array("StopOnMaxEpisodes", "n", n, integer=True)

    _channel = "lerax.StopOnMaxEpisodes"

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> StopOnMaxEpisodesState:
        zero = jnp.zeros((), jnp.int32)
        return StopOnMaxEpisodesState(
            stopped=jnp.asarray(False),
            stop_iteration=zero - 1,
            reason=zero + jnp.int32(StopReason.NONE),
            ack=zero,
        )

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> StopOnMaxEpisodesState:
        s = ctx.state
        record = StopRecord.of(s).update(
            ctx.num_episodes >= self.n, ctx.iteration_count, StopReason.MAX_EPISODES
        )
        payload = {
            "iteration": ctx.iteration_count,
            "timesteps": ctx.num_timesteps,
            "episodes": ctx.num_episodes,
            "n": self.n,
        }
        ack = host.send(self._channel, payload, due=record.new)
        return StopOnMaxEpisodesState(
            stopped=record.stopped,
            stop_iteration=record.stop_iteration,
            reason=record.reason,
            ack=s.ack + ack,
        )

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Any]:
        return {self._channel: StopPrinter("StopOnMaxEpisodes", _describe)}

    def __repr__(self) -> str:
        return f"StopOnMaxEpisodes(n={show_scalar(self.n)})"


def _describe(row) -> str:
    return f"{int(row['episodes'])} episodes finished (limit {int(row['n'])})"
