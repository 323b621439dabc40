"""A minimal console progress report: timesteps and recent episode returns."""

from __future__ import annotations

import sys
import time
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, Key

from lerax import host
from lerax._checks import check_int

from .._context import IterationContext, ResetContext, TrainingContext
from .._partial import AbstractNeverStopping, AbstractWithoutStepState, AbstractWithoutTrainingStart
from .._state import AbstractCallbackState, EmptyCallbackStepState


class PrintProgressState(AbstractCallbackState):
    """The episodes finished since the last report, and the host acknowledgements.

    Attributes:
        finished: Episodes finished (all envs) since the last report.
        finished_return: Sum of their returns.
        ack: Host acknowledgements (keeps crossings in program order).
    """

    finished: Int[Array, ""]
    finished_return: Float[Array, ""]
    ack: Int[Array, ""]


class PrintProgress(
    AbstractWithoutStepState[PrintProgressState],
    AbstractWithoutTrainingStart[PrintProgressState, EmptyCallbackStepState],
    AbstractNeverStopping[PrintProgressState, EmptyCallbackStepState],
):
    """Print one line every `every` iterations: timesteps, steps/second and the mean
    return of the episodes finished since the previous line.

    The episodes are the driver's (`IterationContext.episodes`): no per-step work.
    One host crossing per printed line (none in between).

    Args:
        every: Iterations between lines (>= 1).
    """

    every: int = eqx.field(static=True, default=10)

    def __check_init__(self):
        check_int("PrintProgress", "every", self.every)

    @property
    def _channel(self) -> str:
        return "print-progress"

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> PrintProgressState:
        zero = jnp.zeros((), jnp.int32)
        return PrintProgressState(finished=zero, finished_return=jnp.zeros(()), ack=zero)

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> PrintProgressState:
        due = ctx.iteration_count % self.every == 0
        finished = ctx.state.finished + jnp.sum(ctx.episodes.count)
        finished_return = ctx.state.finished_return + jnp.sum(ctx.episodes.return_sum)
        payload = {
            "event": jnp.asarray(1),
            "timesteps": ctx.num_timesteps,
            "total": ctx.total_timesteps,
            "finished": finished,
            "finished_return": finished_return,
        }
        ack = ctx.state.ack + host.send(self._channel, payload, due=due)
        return PrintProgressState(
            finished=jnp.where(due, 0, finished),
            finished_return=jnp.where(due, 0.0, finished_return),
            ack=ack,
        )

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> PrintProgressState:
        payload = {
            "event": jnp.asarray(2),
            "timesteps": ctx.num_timesteps,
            "total": ctx.total_timesteps,
            "finished": ctx.num_episodes,
            "finished_return": jnp.zeros(()),
        }
        ack = ctx.state.ack + host.send(self._channel, payload)
        return PrintProgressState(
            finished=ctx.state.finished, finished_return=ctx.state.finished_return, ack=ack
        )

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Any]:
        return {self._channel: _ProgressPrinter()}


class _ProgressPrinter:
    def __init__(self):
        self.start = time.perf_counter()
        self.first: tuple[float, int] | None = None

    def __call__(self, rows: dict[str, np.ndarray], index: np.ndarray) -> None:
        now = time.perf_counter()
        elapsed = now - self.start
        if self.first is None:
            self.first = (now, int(rows["timesteps"].max()))
        since, since_steps = self.first
        for r in range(index.shape[0]):
            who = "" if index.shape[1] == 0 else f"[{'/'.join(map(str, index[r]))}] "
            steps = int(rows["timesteps"][r])
            total = int(rows["total"][r])
            if int(rows["event"][r]) == 2:
                print(
                    f"{who}done: {steps} steps, {rows['finished'][r]} episodes, {elapsed:.1f}s",
                    file=sys.stdout,
                    flush=True,
                )
                continue
            n = int(rows["finished"][r])
            mean = float(rows["finished_return"][r]) / n if n else float("nan")
            rate = (steps - since_steps) / (now - since) if now > since else float("nan")
            print(
                f"{who}{steps:>9d}/{total} steps ({100 * steps / max(total, 1):5.1f}%) "
                f"{rate:9.0f} steps/s  episode return {mean:8.2f} "
                f"({n} episodes)",
                file=sys.stdout,
                flush=True,
            )
