"""The host side of `LoggingCallback`: runs per member, background writers, isolation.

The compiled program hands each event to `LoggingSession.on_*` (through the single
crossing in `lerax.host`). Those methods queue the numpy payload and return at once,
so backends never stall the program: a dispatcher thread turns each event into
backend calls, and every backend slot writes on a worker thread of its own
(`BackendWorkers`), in order. `on_end` waits until every backend has written
everything, but at most `LoggingCallback.close_timeout` seconds: a backend still
busy then is reported by name and left behind.

Isolation: every backend call runs guarded on its worker. The first exception of a
backend (any `BaseException`) is reported once on stderr and that backend is
disabled for the rest of the session; the other backends and training go on.
"""

from __future__ import annotations

import copy
import functools
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from lerax.host import Pace, decode_columns, member_label

from . import _aggregate
from ._backend_workers import BackendWorkers
from ._run_names import run_stamp

if TYPE_CHECKING:
    from ._callback import LoggingCallback

_ENTERED: dict[int, LoggingSession | None] = {}  # id(callback) -> session, inside `with`
LOG_CROSSINGS_PER_SECOND = 7.0
"""How often the host asks for the log buffer: live enough for a console (a line
every ~0.15 s at most behind), few enough crossings to cost nothing measurable."""


def session_for(callback: LoggingCallback, run: dict[str, Any]) -> LoggingSession:
    """The session receiving `callback`'s events for this `learn` call.

    Inside `with callback:` the same session (and the same runs) is reused across
    calls; otherwise each call gets a fresh session, closed by the call's run scope.
    """
    key = id(callback)
    if key not in _ENTERED:
        return LoggingSession(callback, run, persistent=False)
    session = _ENTERED[key]
    if session is None or session.closed:
        session = _ENTERED[key] = LoggingSession(callback, run, persistent=True)
    else:
        session.run = run
    return session


class LoggingSession:
    """Host-side state of one logging run (or one population of member runs)."""

    def __init__(self, callback: LoggingCallback, run: dict[str, Any], *, persistent: bool):
        self.callback = callback
        self.run = run
        self.persistent = persistent
        self.pace = Pace(LOG_CROSSINGS_PER_SECOND)
        self.last_crossing = time.perf_counter()
        self.ended = False
        # Aggregate runs: member rows per (group, iteration) until every member of the
        # group reported that iteration (a member that stopped early sends its last
        # events only at training end) or the run ended.
        self.expected: dict[tuple, set[tuple[int, ...]]] = {}
        self.pending: dict[tuple, dict[int, dict[tuple[int, ...], tuple[int, dict]]]] = {}
        self.timestamp = run_stamp()  # e.g. 20261121-120000-3fa2c1: unique across processes
        self.members: dict[tuple[int, ...], list[Any]] = {}
        self.offsets: dict[tuple[int, ...], int] = {}
        self.last_step: dict[tuple[int, ...], int] = {}
        self.last_time: dict[tuple[int, ...], tuple[float, int]] = {}
        self.workers = BackendWorkers([type(b).__name__ for b in callback.backends])
        self.disabled = self.workers.disabled  # {backend slot: why it stopped}
        self.closed = False

    # ---------------------------------------------------------- context manager

    @staticmethod
    def enter(callback: LoggingCallback) -> None:
        _ENTERED.setdefault(id(callback), None)

    @staticmethod
    def exit(callback: LoggingCallback) -> None:
        session = _ENTERED.pop(id(callback), None)
        if session is not None and not session.closed:
            session._submit(session._close_all)
            session._drain()
            session.closed = True

    def close_run(self, *, interrupted: bool) -> None:
        """End of one training call (its run scope closes): every event that crossed
        is written, and the runs close unless a `with` block keeps them open. After an
        interruption the runs are marked so (the SQLite store's status)."""
        if not self.persistent and not self.ended:
            self.ended = True
            if interrupted:
                self._submit(self._mark_interrupted)
            self._submit(self._end, None, None)
        self._drain()

    def _mark_interrupted(self) -> None:
        for backends in self.members.values():
            for i, b in enumerate(backends):
                mark = getattr(b, "mark_interrupted", None)
                if callable(mark):
                    self._guard(i, b, "mark_interrupted", mark)

    # ---------------------------------------------------------- receivers (io thread)

    def on_start(self, rows: dict[str, Any], index: np.ndarray) -> None:
        now = time.perf_counter()
        self.pace(int(np.max(rows["iteration"], initial=0)), now, restart=True)
        self.last_crossing = now
        self._submit(self._start, rows, index)

    def on_log(self, rows: dict[str, Any], index: np.ndarray) -> int:
        """A batch of events (an `EventBuffer` per member); returns the iterations to
        run before the next crossing."""
        now = time.perf_counter()
        since, self.last_crossing = self.last_crossing, now
        self._submit(self._log_batch, rows, index, since, now)
        columns = decode_columns(rows["values"], rows["schema"])
        iterations = columns.get("time/iteration")
        if iterations is None or not rows["count"].size:
            return 1
        last = int(max(iterations[r, c - 1] for r, c in enumerate(rows["count"]) if c > 0))
        return self.pace(last, now)

    def on_video(self, rows: dict[str, Any], index: np.ndarray) -> None:
        self._submit(self._video, rows, index)

    def on_end(self, rows: dict[str, Any], index: np.ndarray) -> None:
        self.ended = True
        self._submit(self._end, rows, index)
        self._drain()

    # ---------------------------------------------------------- worker

    def _submit(self, fn, *args) -> None:
        """Run the session's own `fn(*args)` in order on the dispatcher thread."""
        self.workers.dispatch(fn, *args)

    def _drain(self) -> None:
        """Wait (`close_timeout` at most) until every backend wrote what it was given."""
        self.workers.drain(self.callback.close_timeout)

    def _guard(self, i: int, backend: Any, what: str, fn, *args, **kwargs) -> None:
        """Queue backend `i`'s call `fn(*args)` on its worker (guarded there)."""
        if kwargs:
            fn = functools.partial(fn, **kwargs)
        self.workers.submit(i, what, fn, *args)

    # ---------------------------------------------------------- events

    @property
    def group_axes(self) -> int:
        """The outer member axes that identify a group: the callback's own
        `group_axes`, else the run's (a population sweep groups by config)."""
        return self.callback.group_axes or int(self.run.get("group_axes", 0))

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
                # The population (this callback's runs) and the aggregate run the
                # member belongs to, so backends need not parse run names.
                "population": self.base_name,
                "group": _aggregate.run_group(member, self.group_axes),
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
        group_axes = self.group_axes
        for key, group in _aggregate.groups(index, group_axes).items():  # see _aggregate.py
            if index.shape[1] > 0:
                self.expected[key] = {tuple(int(i) for i in index[r]) for r in group}
            if group.size > 1 and key not in self.members:
                shared = _aggregate.shared_values(rows["hparams"], group) if len(key) > 1 else {}
                for i, b in enumerate(self._backends(key, num)):
                    self._guard(i, b, "log_hparams", b.log_hparams, self._hparams(shared))

    def _log_batch(self, rows: dict[str, Any], index: np.ndarray, since: float, now: float) -> None:
        """Log the events of a crossed batch in iteration order, each with its own step.

        The host sees the batch at `now`; the batch's j-th iteration of k gets the time
        `since + (j+1)/k` of the interval since the previous crossing (the rate over
        the batch). Rows are matched by iteration, not by position: a member that
        stopped early may send older events than the others. Each backend gets the
        whole batch in ONE job on its worker (not one hand-off per event)."""
        columns = decode_columns(rows["values"], rows["schema"])
        if not columns:
            return
        counts = np.asarray(rows["count"])
        iteration = columns["time/iteration"]
        valid = np.arange(iteration.shape[1])[None, :] < counts[:, None]
        # Every waiting event (member, slot), sorted by iteration; all their scalars
        # become Python floats in ONE conversion, then each iteration is a slice.
        member, slot = np.nonzero(valid)
        order = np.argsort(iteration[member, slot], kind="stable")
        member, slot = member[order], slot[order]
        starts = np.unique(iteration[member, slot], return_index=True)[1]
        ends = [*starts[1:].tolist(), len(member)]
        keys = list(columns)
        table = np.stack([np.asarray(c, np.float64) for c in columns.values()])
        values = table[:, member, slot].T.tolist()
        timesteps = columns["time/timesteps"][member, slot].tolist()
        writes: list[list[tuple[Any, dict[str, float], int]]] = [[] for _ in self.workers.names]
        for j, (start, end) in enumerate(zip(starts.tolist(), ends, strict=True)):
            when = since + (now - since) * (j + 1) / len(starts)
            event = (keys, values[start:end], timesteps[start:end], index[member[start:end]])
            for i, backend, scalars, step in self._log(*event, when):
                writes[i].append((backend, scalars, step))
        for i, backend, scalars, step in self._aggregates(final=False):
            writes[i].append((backend, scalars, step))
        for i, batch in enumerate(writes):
            if batch:
                self.workers.submit(i, "log_scalars", _log_scalars, batch, events=len(batch))

    def _aggregates(self, *, final: bool) -> list[tuple[int, Any, dict[str, float], int]]:
        """The aggregate runs' writes of every iteration that all members of a group
        reported (every pending one when `final`), in iteration order."""
        writes = []
        for key, by_iteration in self.pending.items():
            expected = self.expected.get(key, set())
            for iteration in sorted(by_iteration):
                reported = by_iteration[iteration]
                if not final and not expected <= set(reported):
                    break  # later iterations wait too: keep the series in order
                del by_iteration[iteration]
                if key not in self.members:
                    continue
                members = sorted(reported)
                rows = [reported[m][1] for m in members]
                names = tuple(rows[0])
                matrix = [  # the members' rows share their keys' order (one schema)
                    list(row.values()) if tuple(row) == names else [row[n] for n in names]
                    for row in rows
                ]
                aggregate = _aggregate.aggregate_rows(names, np.asarray(matrix, np.float64))
                step = max(reported[m][0] for m in members)
                for i, b in enumerate(self.members[key]):
                    writes.append((i, b, aggregate, step))
        return writes

    def _log(
        self,
        keys: list[str],
        per_row: list[list[float]],
        timesteps: list[int],
        index: np.ndarray,
        now: float,
    ) -> list[tuple[int, Any, dict[str, float], int]]:
        """The backend writes of one event (every member's row): `(slot, backend,
        scalars, step)`, members first, then the aggregate runs.

        Args:
            keys: The scalars' names.
            per_row: Each member's values, in `keys` order.
            timesteps: Each member's timestep count.
            index: Each member's index tuple, `(rows, depth)`.
            now: The host time the event is given.
        """
        num = index.shape[0]
        writes = []
        rates = np.full(num, np.nan)
        steps = np.zeros(num, np.int64)
        members = [tuple(row) for row in index.tolist()]
        by_member = []
        for r, member in enumerate(members):
            last_t, last_steps = self.last_time.get(member, (now, timesteps[r]))
            if now > last_t:
                rates[r] = (timesteps[r] - last_steps) / (now - last_t)
            self.last_time[member] = (now, timesteps[r])
            step = timesteps[r] + self.offsets.get(member, 0)
            steps[r] = step
            self.last_step[member] = step
            scalars = dict(zip(keys, per_row[r], strict=True))
            scalars["time/steps_per_second"] = float(rates[r])
            by_member.append(scalars)
            for i, b in enumerate(self._backends(member, num)):
                writes.append((i, b, scalars, step))
        if index.shape[1] > 0:  # a population: the aggregate waits for every member
            group_axes = self.group_axes
            iteration = int(per_row[0][keys.index("time/iteration")])
            for r, member in enumerate(members):
                key = _aggregate.aggregate_key(member, group_axes)
                self.pending.setdefault(key, {}).setdefault(iteration, {})[member] = (
                    int(steps[r]),
                    dict(by_member[r]),  # its own copy: the backends' threads read theirs
                )
        return writes

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
        for i, backend, values, step in self._aggregates(final=True):
            self._guard(i, None, "log_scalars", _log_scalars, [(backend, values, step)])
        if not self.persistent and self.run.get("interrupted", lambda: False)():
            self._mark_interrupted()
        if not self.persistent:
            self._close_all()
            self.closed = True

    def _close_all(self) -> None:
        """Queue every backend's `close` (after its events) and let the workers end."""
        for backends in self.members.values():
            for i, b in enumerate(backends):
                self.workers.submit(i, "close", b.close)
        self.workers.finish()


def _log_scalars(batch: list[tuple[Any, dict[str, float], int]]) -> None:
    """One backend slot's writes of a crossed batch, in order (on its worker)."""
    for backend, scalars, step in batch:
        backend.log_scalars(scalars, step)


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
