"""`LoggingCallback`: metrics, hyper-parameters and videos to any set of backends."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, Key

from lerax import host
from lerax._checks import check_int
from lerax._paths import check_relative_name
from lerax.env import AbstractEnv
from lerax.policy import AbstractPolicy

from .._context import IterationContext, ResetContext, TrainingContext
from .._gating import run_if_due
from .._host_only import HostOnly
from .._partial import AbstractNeverStopping, AbstractWithoutStepState
from .._state import EmptyCallbackStepState
from ._backend import AbstractLoggingBackend
from ._episode_window import EpisodeWindow
from ._host_config import HostConfig, policy_config
from ._log_state import LoggingCallbackState, MovingReturn
from ._session import LoggingSession, session_for
from ._video import render_episode


class LoggingCallback(
    AbstractWithoutStepState[LoggingCallbackState],
    AbstractNeverStopping[LoggingCallbackState, EmptyCallbackStepState],
):
    """Log training to one or several backends from inside the compiled program.

    Every `log_interval` iterations, and always at the last iteration (the planned
    end or an early stop), one log event records, for every vmapped member:
    episode return/length (EMA and mean/min/max of the episodes finished since the
    previous event), the algorithm's training metrics, the learning rate, timesteps,
    iteration, episodes, and the moving average of the episode return with its moving
    std (`reward/moving_avg`, `reward/moving_upper`, `reward/moving_lower`). Events
    wait in a device-side buffer and cross in batches (one host call for every member
    of a population), a few times a second, when the buffer is full and at training
    end: no event is lost. Steps per second are measured on the host, over a batch.

    Hyper-parameters (the algorithm's, the optimizer's, the env's parameters, the
    policy's configuration, merged with `hparams`) are logged once per run; under
    `vmap` over a hyper-parameter every member records its own value.

    Runs: `name`, else `<Algorithm>_<Env>_<timestamp>-<random>` (unique across
    processes started in the same second); under `vmap` each member logs to
    `<name>/seed_<i>` (nested vmaps: `<name>/<i>_<j>`) and the mean/min/max across
    members goes to `<name>/aggregate`.

    Backends open when training starts and close when it ends. As a context manager
    (`with LoggingCallback(...) as cb:`) several `learn` calls log into the same
    runs, with steps continuing.

    Each backend writes on a worker thread of its own, so a slow or broken backend
    never holds training or the other backends: a backend that raises (anything,
    `KeyboardInterrupt` and `SystemExit` included) is reported once on stderr and
    disabled for the session, and at training end each backend gets at most
    `close_timeout` seconds to finish; one still busy then is reported by name with
    the number of events it did not write, and `learn` returns without it.

    Video: every `video_interval` iterations a deterministic-policy rollout of
    `video_num_steps` steps is rendered on the device at `video_width` x
    `video_height` (only when due), crosses once, and goes to every backend's
    `log_video`.

    Constructing the callback has no side effect.

    Args:
        backend: An `AbstractLoggingBackend` or a sequence of them.
        name: Run name; default `<Algorithm>_<Env>_<timestamp>-<random>`. A relative
            path such as `"ppo/cartpole"` (backends that write files nest folders);
            absolute paths and empty, `.` or `..` components raise `ValueError`.
        env: Environment used for videos (default: the training env) and naming.
        policy: Policy whose configuration is recorded with the hyper-parameters.
        alpha: EMA weight on the newest episode, in (0, 1].
        hparams: Extra hyper-parameters; they take precedence.
        log_interval: Iterations between log events (>= 1).
        video_interval: Iterations between videos; 0 disables video.
        video_num_steps: Env steps per video.
        video_width: Frame width in pixels.
        video_height: Frame height in pixels.
        video_fps: Playback frames per second.
        group_axes: Under nested `vmap`s, how many outer member axes identify a group
            (e.g. a hyper-parameter value, with seeds inside): each group of two or
            more members gets its own aggregate run `<name>/aggregate_<i>`, recording
            the hyper-parameters its members share. 0 (default): one aggregate run over
            every member. Aggregates hold `<metric>/mean`, `/min`, `/max` and `/iqm`
            (interquartile mean); see `lerax.callback.logging._aggregate`.
        close_timeout: Seconds (> 0) each backend may take, at training end, to write
            what it still holds and close; a backend still busy then is reported and
            left behind (its worker is a daemon thread).
        buffer_size: Log events kept on the device between two crossings (>= 1); the
            buffer crosses when the host asks (a few times a second), when it is full
            and at training end, so no event is lost (see `lerax.host.EventBuffer`).
        max_scalars: Most scalars one log event may hold (>= 16; the buffer's width).

    Raises:
        TypeError: `backend`, `name`, `env`, `policy` or `hparams` has the wrong type.
        ValueError: a number out of range, or a `name` that is not a relative path
            inside the backends' roots (the message names the argument).
    """

    env: AbstractEnv | None
    alpha: float = eqx.field(static=True)
    log_interval: int = eqx.field(static=True)
    video_interval: int = eqx.field(static=True)
    video_num_steps: int = eqx.field(static=True)
    video_width: int = eqx.field(static=True)
    video_height: int = eqx.field(static=True)
    buffer_size: int = eqx.field(static=True)
    max_scalars: int = eqx.field(static=True)
    # Read only on the host: not part of the compiled program (see `HostOnly`).
    _host: HostOnly[HostConfig] = eqx.field(static=True)

    def __init__(
        self,
        backend: AbstractLoggingBackend | Sequence[AbstractLoggingBackend],
        name: str | None = None,
        env: AbstractEnv | None = None,
        policy: AbstractPolicy | None = None,
        alpha: float = 0.9,
        hparams: dict[str, Any] | None = None,
        log_interval: int = 1,
        video_interval: int = 0,
        video_num_steps: int = 128,
        video_width: int = 640,
        video_height: int = 480,
        video_fps: float = 50.0,
        *,
        group_axes: int = 0,
        close_timeout: float = 10.0,
        buffer_size: int = 64,
        max_scalars: int = 64,
    ):
        backends = (backend,) if isinstance(backend, AbstractLoggingBackend) else backend
        if not isinstance(backends, Sequence) or not backends:
            raise TypeError(
                "LoggingCallback: `backend` must be an AbstractLoggingBackend or a non-empty "
                f"list of them, got {backend!r}."
            )
        for i, b in enumerate(backends):
            if not isinstance(b, AbstractLoggingBackend):
                raise TypeError(
                    f"LoggingCallback: `backend[{i}]` must be an AbstractLoggingBackend "
                    f"(TensorBoardBackend, WandbBackend, CometBackend, ConsoleBackend, "
                    f"SQLiteBackend), got {type(b).__name__}."
                )
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"LoggingCallback: `name` must be a non-empty str, got {name!r}.")
        if name is not None:
            check_relative_name("LoggingCallback", "name", name)
        if env is not None and not isinstance(env, AbstractEnv):
            raise TypeError(f"LoggingCallback: `env` must be an AbstractEnv, got {env!r}.")
        if policy is not None and not isinstance(policy, AbstractPolicy):
            raise TypeError(f"LoggingCallback: `policy` must be an AbstractPolicy, got {policy!r}.")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1:
            raise ValueError(f"LoggingCallback: `alpha` must be a float in (0, 1], got {alpha!r}.")
        if hparams is not None and not isinstance(hparams, dict):
            raise TypeError(f"LoggingCallback: `hparams` must be a dict, got {hparams!r}.")
        for arg, value, minimum in (
            ("log_interval", log_interval, 1),
            ("video_interval", video_interval, 0),
            ("video_num_steps", video_num_steps, 1),
            ("video_width", video_width, 1),
            ("video_height", video_height, 1),
            ("group_axes", group_axes, 0),
            ("buffer_size", buffer_size, 1),
            ("max_scalars", max_scalars, 16),
        ):
            check_int("LoggingCallback", arg, value, minimum=minimum)
        if isinstance(video_fps, bool) or not isinstance(video_fps, (int, float)) or video_fps <= 0:
            raise ValueError(f"LoggingCallback: `video_fps` must be > 0, got {video_fps!r}.")
        if (
            isinstance(close_timeout, bool)
            or not isinstance(close_timeout, (int, float))
            or not close_timeout > 0
        ):
            raise ValueError(
                f"LoggingCallback: `close_timeout` must be a number of seconds > 0, "
                f"got {close_timeout!r}."
            )
        self.env = env
        self.alpha = float(alpha)
        self.log_interval = log_interval
        self.video_interval = video_interval
        self.video_num_steps = video_num_steps
        self.video_width = video_width
        self.video_height = video_height
        self.buffer_size = buffer_size
        self.max_scalars = max_scalars
        self._host = HostOnly(
            HostConfig(
                backends=tuple(backends),
                name=name,
                policy_config=tuple(sorted(policy_config(policy).items())),
                hparams=tuple(sorted((hparams or {}).items())),
                video_fps=float(video_fps),
                group_axes=group_axes,
                close_timeout=float(close_timeout),
            )
        )

    # ----------------------------------------------------------- host-only settings

    @property
    def backends(self) -> tuple[AbstractLoggingBackend, ...]:
        return self._host.value.backends

    @property
    def name(self) -> str | None:
        return self._host.value.name

    @property
    def policy_config(self) -> tuple[tuple[str, Any], ...]:
        return self._host.value.policy_config

    @property
    def hparams(self) -> tuple[tuple[str, Any], ...]:
        return self._host.value.hparams

    @property
    def video_fps(self) -> float:
        return self._host.value.video_fps

    @property
    def group_axes(self) -> int:
        return self._host.value.group_axes

    @property
    def close_timeout(self) -> float:
        return self._host.value.close_timeout

    # ----------------------------------------------------------- channels
    # Named by role only: `CallbackList` prefixes them with this callback's position,
    # and the run's scope routes them, so no object identity enters the program.

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Any]:
        session = session_for(self, run)
        return {
            "logging/start": session.on_start,
            "logging/log": session.on_log,
            "logging/video": session.on_video,
            "logging/end": session.on_end,
        }

    def __enter__(self) -> LoggingCallback:
        LoggingSession.enter(self)
        return self

    def __exit__(self, *exc_info) -> None:
        LoggingSession.exit(self)

    # ----------------------------------------------------------- hooks

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> LoggingCallbackState:
        return LoggingCallbackState.initial(ctx.num_envs, self.buffer_size, self.max_scalars)

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]):
        payload = {
            "timesteps": ctx.num_timesteps,
            "iteration": ctx.iteration_count,
            "total_timesteps": ctx.total_timesteps,
            "hparams": ctx.hyperparameters,
        }
        ack = host.send("logging/start", payload)
        # Events a resumed state still held were crossed by the run that saved it.
        return dataclasses.replace(
            ctx.state,
            events=ctx.state.events.restart(ctx.iteration_count),
            ack=ctx.state.ack + ack,
        )

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]):
        # Due every `log_interval` iterations and at the last planned one (an early
        # stop's last iteration is logged by `on_training_end`).
        due = (ctx.iteration_count % self.log_interval == 0) | (
            ctx.num_timesteps >= ctx.total_timesteps
        )
        state = ctx.state
        window = state.window.add(ctx.episodes, self.alpha)
        train = {f"train/{k}": v for k, v in ctx.training_log.items()}
        counts = (ctx.iteration_count, ctx.num_timesteps, ctx.num_episodes)
        names: list[str] = []

        def probe():  # the event's layout, traced abstractly (a list keeps its order)
            event, _ = self._event(window, state.moving, counts, train)
            names.extend(event)
            return list(event.values())

        shapes = dict(zip(names, jax.eval_shape(probe), strict=True))
        if len(shapes) > self.max_scalars:
            raise ValueError(
                f"LoggingCallback: this run logs {len(shapes)} scalars per event, more "
                f"than `max_scalars`={self.max_scalars}; pass max_scalars={len(shapes)} "
                "or more."
            )
        events = dataclasses.replace(
            state.events, schema=jnp.asarray(state.events.layout(shapes), jnp.int32)
        )

        # The event is computed only when it is logged: an iteration that logs nothing
        # costs the episode window, the training values' bits (which an early stop's
        # last event needs) and two `cond`s (this one and the crossing's). Under `vmap`
        # `run_if_due` keeps it a `cond` on "any member due" (a plain `cond` would
        # become a select computing the event for every member every time). The
        # buffer crosses when the host asked for it (a few times a second), when it
        # is full, and at training end.
        def logged(operands):
            window, moving, events, counts, train = operands
            event, moving = self._event(window, moving, counts, train)
            row, schema = events.encode(event)
            return events.append_row(row, schema), moving, window.restart(True)

        def skipped(operands):
            window, moving, events, _, _ = operands
            return events, moving, window

        events, moving, window = run_if_due(
            due, logged, skipped, (window, state.moving, events, counts, train)
        )
        events, ack = events.flush("logging/log", ctx.iteration_count)
        if self.video_interval:
            ack = ack + self._send_video(ctx, key)
        return LoggingCallbackState(
            window=window,
            moving=moving,
            events=events,
            last_train=state.events.encode(train)[0],
            last_pending=~due,
            ack=state.ack + ack,
        )

    def _event(
        self,
        window: EpisodeWindow,
        moving: MovingReturn,
        counts: tuple[Int[Array, ""], Int[Array, ""], Int[Array, ""]],
        train: dict[str, Array],
    ) -> tuple[dict[str, Array], MovingReturn]:
        """One log event (episode statistics since the last event, the moving return,
        the counters, then the training values) and the moving return it leaves."""
        episode_scalars = window.scalars()
        moving = moving.add(episode_scalars["episode/return_mean"], window.count > 0, self.alpha)
        iteration, timesteps, episodes = counts
        event = {
            **episode_scalars,
            **moving.scalars(),
            "time/iteration": iteration,
            "time/timesteps": timesteps,
            "time/episodes": episodes,
            **train,
        }
        return event, moving

    def _send_video(self, ctx: IterationContext, key: Key[Array, ""]) -> Int[Array, ""]:
        env = self.env if self.env is not None else ctx.env
        arrays, static = eqx.partition((ctx.policy, env), eqx.is_array)
        num_steps, width, height = self.video_num_steps, self.video_width, self.video_height

        def frames(payload):
            policy, video_env = eqx.combine(payload["modules"], static)
            return {
                "timesteps": payload["timesteps"],
                "frames": render_episode(
                    video_env, policy, num_steps, width, height, key=payload["key"]
                ),
            }

        payload = {"modules": arrays, "key": key, "timesteps": ctx.num_timesteps}
        due = ctx.iteration_count % self.video_interval == 0
        return host.send("logging/video", payload, due=due, compute=frames)

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]):
        # An early stop's last iteration is logged even when it was not due; then every
        # event still waiting crosses now: lossless.
        state = ctx.state
        counts = (ctx.iteration_count, ctx.num_timesteps, ctx.num_episodes)
        head, _ = self._event(state.window, state.moving, counts, {})
        head_row, _ = state.events.encode(head)
        # The training values' bits follow the head in the last iteration's row.
        row = jnp.concatenate([head_row[: len(head)], state.last_train])[: self.max_scalars]
        events = state.events.append_row(
            row, state.events.schema, when=ctx.stopped & state.last_pending
        )
        events, flushed = events.flush("logging/log", ctx.iteration_count, force=True)
        payload = {
            "ack": flushed,  # after the flush
            "timesteps": ctx.num_timesteps,
            "iteration": ctx.iteration_count,
            "episodes": ctx.num_episodes,
            "stopped": ctx.stopped,
        }
        ack = host.send("logging/end", payload)
        return dataclasses.replace(
            state,
            events=events,
            last_pending=state.last_pending & ~ctx.stopped,
            ack=state.ack + flushed + ack,
        )

    def config(self) -> dict[str, Any]:
        return {
            "type": "LoggingCallback",
            "backends": [b.config() for b in self.backends],
            "name": self.name,
            "alpha": self.alpha,
            "log_interval": self.log_interval,
            "video_interval": self.video_interval,
            "video_num_steps": self.video_num_steps,
            "video_width": self.video_width,
            "video_height": self.video_height,
            "video_fps": self.video_fps,
            "group_axes": self.group_axes,
        }

    def __repr__(self) -> str:
        names = ", ".join(type(b).__name__ for b in self.backends)
        return f"LoggingCallback([{names}], name={self.name!r}, log_interval={self.log_interval})"
