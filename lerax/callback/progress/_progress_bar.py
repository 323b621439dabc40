"""`ProgressBarCallback`: a progress bar of timesteps, fed from inside the program."""

from __future__ import annotations

import dataclasses
from typing import IO, Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Int, Key

from lerax import host
from lerax._checks import check_bool

from .._context import IterationContext, ResetContext, TrainingContext
from .._host_only import HostOnly
from .._partial import AbstractNeverStopping, AbstractWithoutStepState
from .._state import AbstractCallbackState, EmptyCallbackStepState
from ._progress_display import END, ITERATION, START, ProgressDisplay


class ProgressBarState(AbstractCallbackState):
    """Per-run state of `ProgressBarCallback`.

    Attributes:
        ack: Host acknowledgements (keeps crossings in program order).
        next_update: The iteration of the next update of a host-paced bar.
    """

    ack: Int[Array, ""]
    next_update: Int[Array, ""]


class ProgressBarCallback(
    AbstractWithoutStepState[ProgressBarState],
    AbstractNeverStopping[ProgressBarState, EmptyCallbackStepState],
):
    """Show training progress: timesteps done out of the planned total, percentage,
    steps per second and ETA (plain text also gives the elapsed time).

    One host crossing when training starts, one per update and one when it ends;
    under `jax.vmap(learn)` each is ONE host call carrying every member. By default
    (`refresh_every=None`) the bar is host-paced: each update tells the program how
    many iterations to run before the next one, from the measured iteration rate, so
    that it updates about `updates_per_second` times a second whatever the speed of
    an iteration (a fast CartPole run crosses a few dozen times, not once per
    iteration). `refresh_every=n` updates every n iterations instead. The bar opens
    when the program reaches training start (compilation is
    not counted in the rate or the ETA). The total is the run's planned budget
    (`total_timesteps` rounded down to whole iterations); `train(state, n)` shows its
    own bar starting from the state's timesteps.

    Display:

    * `stream` is a terminal and `rich` is installed: a live `rich` bar, redrawn on
      a background timer (the receiver only records numbers and returns). It does
      not capture stdout/stderr, so other output to the terminal while it is live
      may be drawn over;
    * otherwise (a file, a pipe, CI logs, `io.StringIO`, or no `rich`): plain text
      without escape codes, one line at the start, one each time a unit passes a
      multiple of 10%, and a final line, e.g.
      `PPO CartPole-v1: 4096/4096 steps (100%) | 52,000 steps/s | 0:00:01 elapsed | done`.

    Under `vmap`: with `per_member=True`, one bar (or one series of lines) per
    member, labelled `seed_<i>` (nested vmaps: `<i>_<j>`). With `per_member=False`
    (default), ONE bar for the population labelled `N runs`, showing the furthest
    member's timesteps: members still training advance in lockstep, so that is the
    progress of the compiled program and its ETA; members that stopped early stay
    frozen where they stopped and are counted in the label (`N runs, k stopped`).
    Steps per second are per run.

    Closing: the bar is closed by the training-end event, also when a callback
    stopped training early (the last line then says `stopped early`). If the
    program never reaches its end (KeyboardInterrupt, an error raised while it
    runs or before `learn` returns), the bar is closed at its last value (cursor
    restored, marked `interrupted`) when the training call ends, by its run scope.
    Events arriving after that are ignored. A process killed outright closes
    nothing: the terminal keeps the last line drawn.

    Constructing the callback has no side effect; `stream`, `per_member` and the
    display are host-only: changing them does not recompile the training program.

    Args:
        per_member: One bar per vmapped member instead of one for the population.
        refresh_every: Iterations between updates (>= 1), or None (default) for a
            host-paced bar.
        updates_per_second: Wanted update rate of a host-paced bar (> 0).
        stream: Where to draw; `None` means `sys.stderr` at the time training starts
            (stdout stays free for the program's own output).

    Raises:
        ValueError: if `refresh_every` is not None or an int >= 1, or
            `updates_per_second` is not > 0.
        TypeError: if `per_member` is not a bool or `stream` has no `write`.
    """

    refresh_every: int | None = eqx.field(static=True)
    _host: HostOnly[_BarHostConfig] = eqx.field(static=True)

    def __init__(
        self,
        *,
        per_member: bool = False,
        refresh_every: int | None = None,
        updates_per_second: float = 10.0,
        stream: IO[str] | None = None,
    ):
        if refresh_every is not None and (
            isinstance(refresh_every, bool)
            or not isinstance(refresh_every, int)
            or refresh_every < 1
        ):
            raise ValueError(
                "ProgressBarCallback: `refresh_every` must be None (host-paced) or an int "
                f">= 1, got {refresh_every!r}."
            )
        if (
            isinstance(updates_per_second, bool)
            or not isinstance(updates_per_second, (int, float))
            or not updates_per_second > 0
        ):
            raise ValueError(
                "ProgressBarCallback: `updates_per_second` must be a number > 0, "
                f"got {updates_per_second!r}."
            )
        check_bool("ProgressBarCallback", "per_member", per_member)
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(
                "ProgressBarCallback: `stream` must be None or a text stream with a "
                f"`write` method, got {stream!r}."
            )
        self.refresh_every = refresh_every
        self._host = HostOnly(_BarHostConfig(per_member, stream, float(updates_per_second)))

    @property
    def per_member(self) -> bool:
        """One bar per vmapped member (True) or one for the population (False)."""
        return self._host.value.per_member

    @property
    def stream(self) -> IO[str] | None:
        """The stream drawn on (`None`: `sys.stderr` when training starts)."""
        return self._host.value.stream

    @property
    def _channel(self) -> str:
        return "progress"

    # ----------------------------------------------------------- host side

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Any]:
        label = " ".join(str(run[k]) for k in ("algorithm", "env") if run.get(k))
        display = ProgressDisplay(
            label or "training",
            stream=self.stream,
            per_member=self.per_member,
            updates_per_second=self._host.value.updates_per_second,
        )
        return {self._channel: display}

    def config(self) -> dict[str, Any]:
        return {
            "type": "ProgressBarCallback",
            "per_member": self.per_member,
            "refresh_every": self.refresh_every,
            "updates_per_second": self._host.value.updates_per_second,
        }

    # ----------------------------------------------------------- hooks

    def _send(self, ctx, event: int, stopped, due=True) -> Int[Array, ""]:
        payload = {
            "ack": ctx.state.ack,  # data dependency on the previous crossing: in order
            "event": jnp.asarray(event, jnp.int32),
            "timesteps": ctx.num_timesteps,
            "total": ctx.total_timesteps,
            "iteration": ctx.iteration_count,
            "stopped": jnp.asarray(stopped, bool),
        }
        return host.send(self._channel, payload, due=due)

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> ProgressBarState:
        zero = jnp.zeros((), jnp.int32)
        return ProgressBarState(ack=zero, next_update=zero)

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> ProgressBarState:
        reply = self._send(ctx, START, False)
        return ProgressBarState(
            ack=ctx.state.ack + reply, next_update=ctx.iteration_count + jnp.maximum(reply, 1)
        )

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> ProgressBarState:
        if self.refresh_every is None:
            due = ctx.iteration_count >= ctx.state.next_update
        else:
            due = ctx.iteration_count % self.refresh_every == 0
        reply = self._send(ctx, ITERATION, False, due)
        next_update = jnp.where(
            due, ctx.iteration_count + jnp.maximum(reply, 1), ctx.state.next_update
        )
        return ProgressBarState(ack=ctx.state.ack + reply, next_update=next_update)

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> ProgressBarState:
        reply = self._send(ctx, END, ctx.stopped)
        return ProgressBarState(ack=ctx.state.ack + reply, next_update=ctx.state.next_update)


@dataclasses.dataclass(frozen=True)
class _BarHostConfig:
    """What only the host side of `ProgressBarCallback` reads (see `HostOnly`)."""

    per_member: bool
    stream: IO[str] | None
    updates_per_second: float
