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

from ._abstract import AbstractCallback
from ._context import IterationContext, ResetContext, StepContext, TrainingContext
from ._state import AbstractCallbackState, AbstractCallbackStepState


class PrintProgressState(AbstractCallbackState):
    """Totals at the last report, and the host acknowledgements.

    Attributes:
        reported_finished: Episodes finished (all envs) at the last report.
        reported_return: Sum of their returns at the last report.
        ack: Host acknowledgements (keeps crossings in program order).
    """

    reported_finished: Int[Array, ""]
    reported_return: Float[Array, ""]
    ack: Int[Array, ""]


class PrintProgressStepState(AbstractCallbackStepState):
    """Per-env episode accounting.

    Attributes:
        episode_return: Return of the episode in progress.
        finished: Episodes finished so far.
        finished_return: Sum of their returns.
    """

    episode_return: Float[Array, ""]
    finished: Int[Array, ""]
    finished_return: Float[Array, ""]


class PrintProgress(AbstractCallback[PrintProgressState, PrintProgressStepState]):
    """Print one line every `every` iterations: timesteps, steps/second and the mean
    return of the episodes finished since the previous line.

    One host crossing per printed line (none in between).

    Args:
        every: Iterations between lines (>= 1).
    """

    every: int = eqx.field(static=True, default=10)

    def __check_init__(self):
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"PrintProgress: `every` must be an int >= 1, got {self.every!r}.")

    @property
    def _channel(self) -> str:
        return "print-progress"

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> PrintProgressState:
        zero = jnp.zeros((), jnp.int32)
        return PrintProgressState(reported_finished=zero, reported_return=jnp.zeros(()), ack=zero)

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> PrintProgressStepState:
        return PrintProgressStepState(
            episode_return=jnp.zeros(()),
            finished=jnp.zeros((), jnp.int32),
            finished_return=jnp.zeros(()),
        )

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> PrintProgressStepState:
        s = ctx.state
        episode_return = s.episode_return + ctx.reward
        return PrintProgressStepState(
            episode_return=jnp.where(ctx.done, 0.0, episode_return),
            finished=s.finished + ctx.done.astype(jnp.int32),
            finished_return=s.finished_return + jnp.where(ctx.done, episode_return, 0.0),
        )

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> PrintProgressState:
        due = ctx.iteration_count % self.every == 0
        finished = ctx.step_state.finished.sum()
        finished_return = ctx.step_state.finished_return.sum()
        payload = {
            "event": jnp.asarray(1),
            "timesteps": ctx.num_timesteps,
            "total": ctx.total_timesteps,
            "finished": finished - ctx.state.reported_finished,
            "finished_return": finished_return - ctx.state.reported_return,
        }
        ack = ctx.state.ack + host.send(self._channel, payload, due=due)
        return PrintProgressState(
            reported_finished=jnp.where(due, finished, ctx.state.reported_finished),
            reported_return=jnp.where(due, finished_return, ctx.state.reported_return),
            ack=ack,
        )

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> PrintProgressState:
        return ctx.state

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
            reported_finished=ctx.state.reported_finished,
            reported_return=ctx.state.reported_return,
            ack=ack,
        )

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]):
        return jnp.asarray(True)

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
