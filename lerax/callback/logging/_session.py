"""The host side of `LoggingCallback`: runs per member, a background writer, isolation.

The compiled program hands each event to `LoggingSession.on_*` (through the single
crossing in `lerax.host`). Those methods copy the numpy payload into a queue and
return at once, so backends never stall the program; one worker thread drains the
queue in order. `on_end` waits until the queue is empty, so everything emitted was
delivered before `learn` returns.

Isolation: every backend call is guarded. The first exception of a backend is
reported once on stderr and that backend is disabled for the rest of the session;
the other backends and training go on.
"""

from __future__ import annotations

import copy
import math
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

import numpy as np

from lerax.host import BackgroundWorker, member_label

from . import _aggregate

if TYPE_CHECKING:
    from ._callback import LoggingCallback

_SESSIONS: dict[str, LoggingSession] = {}
_ENTERED: set[str] = set()
_ADAM = {"optimizer": "adam", "adam_eps": 1e-5}


def session_for(callback: LoggingCallback, run: dict[str, Any]) -> LoggingSession:
    """The session receiving `callback`'s events for this `learn` call.

    Inside `with callback:` the same session (and the same runs) is reused across
    calls; otherwise each call gets a fresh session whose runs close at training end.
    """
    session = _SESSIONS.get(callback.run_id)
    if session is None or session.closed:
        session = LoggingSession(callback, run)
        _SESSIONS[callback.run_id] = session
    else:
        session.run = run
    return session


class LoggingSession:
    """Host-side state of one logging run (or one population of member runs)."""

    def __init__(self, callback: LoggingCallback, run: dict[str, Any]):
        self.callback = callback
        self.run = run
        self.timestamp = time.strftime("%Y%m%d-%H%M%S")
        self.members: dict[tuple[int, ...], list[Any]] = {}
        self.offsets: dict[tuple[int, ...], int] = {}
        self.last_step: dict[tuple[int, ...], int] = {}
        self.last_time: dict[tuple[int, ...], tuple[float, int]] = {}
        self.disabled: dict[int, str] = {}
        self.worker = BackgroundWorker("lerax-logging")
        self.closed = False

    # ---------------------------------------------------------- context manager

    @staticmethod
    def enter(callback: LoggingCallback) -> None:
        _ENTERED.add(callback.run_id)

    @staticmethod
    def exit(callback: LoggingCallback) -> None:
        _ENTERED.discard(callback.run_id)
        session = _SESSIONS.pop(callback.run_id, None)
        if session is not None and not session.closed:
            session._submit(session._close_all)
            session._drain()
            session.closed = True

    @property
    def persistent(self) -> bool:
        return self.callback.run_id in _ENTERED

    # ---------------------------------------------------------- receivers (io thread)

    def on_start(self, rows: dict[str, Any], index: np.ndarray) -> None:
        self._submit(self._start, rows, index)

    def on_log(self, rows: dict[str, Any], index: np.ndarray) -> None:
        self._submit(self._log, rows, index, time.perf_counter())

    def on_video(self, rows: dict[str, Any], index: np.ndarray) -> None:
        self._submit(self._video, rows, index)

    def on_end(self, rows: dict[str, Any], index: np.ndarray) -> None:
        self._submit(self._end, rows, index)
        self._drain()

    # ---------------------------------------------------------- worker

    def _submit(self, fn, *args) -> None:
        self.worker.submit(fn, *args)

    def _drain(self) -> None:
        self.worker.drain()

    def _guard(self, i: int, backend: Any, what: str, fn, *args, **kwargs) -> None:
        if i in self.disabled:
            return
        try:
            fn(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - isolate the failing backend
            self.disabled[i] = f"{type(error).__name__}: {error}"
            print(
                f"lerax: logging backend {type(backend).__name__} failed in {what} and is "
                f"disabled for this run; training and the other backends continue.\n"
                f"{traceback.format_exc()}",
                file=sys.stderr,
            )

    # ---------------------------------------------------------- events

    @property
    def base_name(self) -> str:
        if self.callback.name is not None:
            return self.callback.name
        return f"{self.run.get('algorithm', 'Run')}_{self.run.get('env', 'Env')}_{self.timestamp}"

    def _backends(self, member: tuple[int, ...], num_members: int) -> list[Any]:
        if member not in self.members:
            metadata = {
                "algorithm": self.run.get("algorithm"),
                "env": self.run.get("env"),
                "total_timesteps": self.run.get("total_timesteps"),
                "member_index": member,
                "num_members": num_members,
            }
            label = member_label(member)
            name = f"{self.base_name}/{label}" if label else self.base_name
            opened = []
            for i, template in enumerate(self.callback.backends):
                backend = copy.copy(template)
                self._guard(i, backend, "open", backend.open, name, metadata=metadata)
                opened.append(backend)
            self.members[member] = opened
        return self.members[member]

    def _hparams(self, member_arrays: dict[str, Any]) -> dict[str, Any]:
        hparams: dict[str, Any] = {
            "algorithm": self.run.get("algorithm"),
            "env": self.run.get("env"),
        }
        hparams.update(self.run.get("hyperparameters", {}))
        hparams.update(_ADAM)
        hparams.update(dict(self.callback.policy_config))
        for key, value in member_arrays.items():
            hparams[key] = _python(value)
        hparams.update(dict(self.callback.hparams))
        return {k: v for k, v in hparams.items() if v is not None}

    def _start(self, rows: dict[str, Any], index: np.ndarray) -> None:
        num = index.shape[0]
        for r in range(num):
            member = tuple(int(i) for i in index[r])
            fresh = member not in self.members
            backends = self._backends(member, num)
            self.offsets[member] = self.last_step.get(member, 0)
            self.last_time[member] = (time.perf_counter(), int(rows["timesteps"][r]))
            if fresh:
                hparams = self._hparams({k: v[r] for k, v in rows["hparams"].items()})
                for i, b in enumerate(backends):
                    self._guard(i, b, "log_hparams", b.log_hparams, hparams)
        group_axes = getattr(self.callback, "group_axes", 0)
        for key, group in _aggregate.groups(index, group_axes).items():  # see _aggregate.py
            if group.size > 1 and key not in self.members:
                shared = _aggregate.shared_values(rows["hparams"], group) if len(key) > 1 else {}
                for i, b in enumerate(self._backends(key, num)):
                    self._guard(i, b, "log_hparams", b.log_hparams, self._hparams(shared))

    def _log(self, rows: dict[str, Any], index: np.ndarray, now: float) -> None:
        num = index.shape[0]
        table: dict[str, np.ndarray] = {
            k: np.asarray(v, np.float64) for k, v in rows["scalars"].items()
        }
        keys = list(table)
        # Every member's scalars as Python floats in one conversion (rows x metrics).
        per_row = np.stack([table[k] for k in keys], axis=1).tolist() if keys else [[]] * num
        rates = np.full(num, np.nan)
        steps = np.zeros(num, np.int64)
        for r in range(num):
            member = tuple(int(i) for i in index[r])
            timesteps = int(rows["timesteps"][r])
            last_t, last_steps = self.last_time.get(member, (now, timesteps))
            if now > last_t:
                rates[r] = (timesteps - last_steps) / (now - last_t)
            self.last_time[member] = (now, timesteps)
            step = timesteps + self.offsets.get(member, 0)
            steps[r] = step
            self.last_step[member] = step
            scalars = dict(zip(keys, per_row[r], strict=True))
            scalars["time/steps_per_second"] = float(rates[r])
            for i, b in enumerate(self._backends(member, num)):
                self._guard(i, b, "log_scalars", b.log_scalars, scalars, step)
        table["time/steps_per_second"] = rates
        group_axes = getattr(self.callback, "group_axes", 0)
        for key, group in _aggregate.groups(index, group_axes).items():  # see _aggregate.py
            if key in self.members and index.shape[1] > 0:
                aggregate = _aggregate.aggregate_scalars(table, group)
                step = int(steps[group].max())
                for i, b in enumerate(self.members[key]):
                    self._guard(i, b, "log_scalars", b.log_scalars, aggregate, step)

    def _video(self, rows: dict[str, Any], index: np.ndarray) -> None:
        num = index.shape[0]
        for r in range(num):
            member = tuple(int(i) for i in index[r])
            step = int(rows["timesteps"][r]) + self.offsets.get(member, 0)
            frames = np.asarray(rows["frames"][r], np.uint8)
            for i, b in enumerate(self._backends(member, num)):
                self._guard(
                    i,
                    b,
                    "log_video",
                    b.log_video,
                    "video/episode",
                    frames,
                    step,
                    self.callback.video_fps,
                )

    def _end(self, rows: dict[str, Any], index: np.ndarray) -> None:
        if not self.persistent:
            self._close_all()
            self.closed = True

    def _close_all(self) -> None:
        for backends in self.members.values():
            for i, b in enumerate(backends):
                try:
                    b.close()
                except Exception as error:  # noqa: BLE001 - closing must reach every backend
                    if i not in self.disabled:
                        self.disabled[i] = f"{type(error).__name__}: {error}"
                        print(
                            f"lerax: logging backend {type(b).__name__} failed to close: {error}",
                            file=sys.stderr,
                        )


def _python(value: Any) -> Any:
    value = np.asarray(value)
    if value.dtype == bool:
        return bool(value)
    if np.issubdtype(value.dtype, np.integer):
        return int(value)
    number = float(value)
    if value.dtype == np.float32:  # 2.5e-4 rather than 0.0002500000118743628
        number = float(f"{number:.7g}")
    return number if math.isfinite(number) else str(number)
