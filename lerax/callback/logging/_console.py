"""Console backend: a live table and progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._backend import AbstractLoggingBackend, require

_REFRESH_S = 0.1  # the live display redraws at most this often (plus once at close)
_STATISTICS = ("mean", "iqm", "min", "max")  # an aggregate run's columns, in this order
_FIRST = (  # shown first (the rest in the order they arrive) when rows must be cut
    "episode/return_mean",
    "reward/moving_avg",
    "episode/length_mean",
    "eval/mean_return",
)


class ConsoleBackend(AbstractLoggingBackend):
    """Show training progress on the console.

    On a terminal (`stream.isatty()`), a Rich live display shows a table of the latest
    metrics (one column per run) above one progress bar per run, with elapsed time
    and ETA; runs on the same stream share one display. Anywhere else (CI logs, files,
    pipes), each update is one plain line without escape codes::

        [PPO_CartPole] step 2,048/100,000 (2.0%) | elapsed 0:00:03 | ETA 0:02:27 | ...

    The total comes from `open`'s `metadata["total_timesteps"]`. Under `vmap` only the
    population's aggregate run is shown, not every member, unless `show_members=True`:
    on a terminal one row per metric with its mean, IQM, min and max over the members,
    and on any stream the best and the worst member by `rank_by` (their latest
    values). The live display never takes more than `max_lines` lines: metric rows
    that do not fit are left out (the episode return first to stay) and counted.

    Args:
        stream: Where to write (`sys.stdout` at `open` when `None`).
        show_members: Also show every member of a vmapped population.
        interval: The least time in seconds between two printed updates of a run; its
            last update is always printed at `close`.
        keys: Show only these metrics: a metric is shown when its name is one of
            `keys` or starts with one of them followed by `/` (so `"episode/return_mean"`
            also shows the aggregate's `episode/return_mean/mean`, `/min`, `/max`).
            Every metric when `None`.
        max_lines: The most lines the live display on a terminal takes (>= 4).
        rank_by: The metric that ranks the members of a population (higher is
            better) for the best/worst member shown with the aggregate.

    Raises:
        TypeError: An argument has the wrong type (the message names it).
        ValueError: `interval` is negative or `max_lines` below 4.
        ImportError: `rich` is missing (`pip install 'lerax[rich]'`).
    """

    def __init__(
        self,
        stream: Any = None,
        show_members: bool = False,
        interval: float = 0.0,
        keys: Sequence[str] | None = None,
        max_lines: int = 24,
        rank_by: str = "episode/return_mean",
    ):
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must be a text stream with write() or None, got {stream!r}")
        if not isinstance(show_members, bool):
            raise TypeError(f"show_members must be a bool, got {show_members!r}")
        if isinstance(interval, bool) or not isinstance(interval, int | float):
            raise TypeError(f"interval must be a number of seconds, got {interval!r}")
        if interval < 0:
            raise ValueError(f"interval must be >= 0 seconds, got {interval!r}")
        if keys is not None and (
            isinstance(keys, str)
            or not isinstance(keys, Sequence)
            or not all(isinstance(k, str) for k in keys)
        ):
            raise TypeError(f"keys must be a sequence of str or None, got {keys!r}")
        if isinstance(max_lines, bool) or not isinstance(max_lines, int):
            raise TypeError(f"max_lines must be an int, got {max_lines!r}")
        if max_lines < 4:
            raise ValueError(f"max_lines must be >= 4 (table header, a row, bar), got {max_lines}")
        if not isinstance(rank_by, str):
            raise TypeError(f"rank_by must be a metric name (str), got {rank_by!r}")
        require("rich", "rich", "ConsoleBackend")
        self._stream = stream  # private: a stream is no serialisable configuration
        self.show_members = show_members
        self.interval = float(interval)
        self.keys = None if keys is None else tuple(keys)
        self.max_lines = max_lines
        self.rank_by = rank_by
        self._run: _Run | None = None

    def open(self, name: str, *, metadata: dict[str, Any] | None = None) -> None:
        if self._run is not None:
            raise RuntimeError("ConsoleBackend is already open; close it (or copy it) first")
        metadata = metadata or {}
        member = tuple(metadata.get("member_index") or ())
        shown = (
            self.show_members
            or not member
            or member[:1] == ("aggregate",)
            or int(metadata.get("num_members") or 1) <= 1
        )
        stream = self._stream if self._stream is not None else sys.stdout
        total = metadata.get("total_timesteps")
        population = int(metadata.get("num_members") or 1) > 1 and bool(member)
        self._run = _Run(
            name,
            stream,
            None if total is None else int(total),
            shown,
            self.max_lines,
            _Ranking.join(stream, _population(name)) if population else None,
        )

    def log_hparams(self, hparams: dict[str, Any]) -> None:
        run = self._live()
        text = ", ".join(f"{k}={_format(v)}" for k, v in hparams.items())
        run.note(f"hparams: {text}")

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        run = self._live()
        if run.ranking is not None and self.rank_by in scalars and not run.aggregate:
            run.ranking.record(run.name, float(scalars[self.rank_by]))
        if not run.shown:  # a population member: only the aggregate is shown
            return
        shown = {k: float(v) for k, v in scalars.items() if self._shows(k)}
        run.update(shown, int(step), self.interval)

    def log_video(self, tag: str, frames: np.ndarray, step: int, fps: float) -> None:
        self._live().note(f"video {tag!r}: {np.shape(frames)[0]} frames at step {int(step):,}")

    def close(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            run.close()

    def _shows(self, key: str) -> bool:
        return self.keys is None or any(key == k or key.startswith(k + "/") for k in self.keys)

    def _live(self) -> _Run:
        if self._run is None:
            raise RuntimeError("ConsoleBackend is not open; call open(name) first")
        return self._run


class _Run:
    """One run's view: plain lines, or a part of the shared live display."""

    def __init__(
        self,
        name: str,
        stream: Any,
        total: int | None,
        shown: bool,
        max_lines: int,
        ranking: _Ranking | None,
    ):
        self.name, self.stream, self.total, self.shown = name, stream, total, shown
        self.ranking = ranking
        self.aggregate = name.rsplit("/", 1)[-1].startswith("aggregate")
        self.start = time.monotonic()
        self.first: tuple[float, int] | None = None
        self.step, self.metrics = 0, {}
        self.printed, self.pending = -float("inf"), False
        self.display = None
        if shown and _isatty(stream):
            self.display = _Display.join(stream, name, total, max_lines)

    def note(self, text: str) -> None:
        if not self.shown:
            return
        if self.display is not None:
            self.display.note(f"[{self.name}] {text}")
        else:
            self._write(f"[{self.name}] {text}")

    def update(self, metrics: dict[str, float], step: int, interval: float) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = (now, step)
        self.step, self.metrics = step, {**self.metrics, **metrics}
        self.pending = True
        if self.shown and now - self.printed >= interval:
            self._show(now)

    def close(self) -> None:
        if self.shown and self.pending:
            self._show(time.monotonic(), final=True)
        if self.display is not None:
            self.display.leave(self.name)
        if self.ranking is not None:
            self.ranking.leave()

    def extremes(self) -> str | None:
        """`best <member> <value> | worst <member> <value>` for an aggregate run."""
        if not self.aggregate or self.ranking is None:
            return None
        return self.ranking.describe()

    def _show(self, now: float, final: bool = False) -> None:
        self.printed, self.pending = now, False
        if self.display is not None:
            self.display.update(self.name, self.step, self.metrics, final, self.extremes())
            return
        parts = [f"step {self.step:,}"]
        if self.total:
            parts[0] += f"/{self.total:,} ({100.0 * self.step / self.total:.1f}%)"
        parts.append(f"elapsed {_duration(now - self.start)}")
        eta = self._eta(now)
        if eta is not None:
            parts.append(f"ETA {_duration(eta)}")
        extremes = self.extremes()
        if extremes is not None:
            parts.append(extremes)
        parts += [f"{k} {_format(v)}" for k, v in self.metrics.items()]
        self._write(f"[{self.name}] " + " | ".join(parts))

    def _eta(self, now: float) -> float | None:
        if not self.total or self.first is None:
            return None
        since, first_step = self.first
        if self.step > first_step and now > since:
            rate = (self.step - first_step) / (now - since)
        elif self.step > 0 and now > self.start:
            rate = self.step / (now - self.start)
        else:
            return None
        return max(self.total - self.step, 0) / rate

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        flush = getattr(self.stream, "flush", None)
        if callable(flush):
            flush()


class _Display:
    """The Rich live display shared by all runs on one terminal stream."""

    _shared: dict[int, _Display] = {}
    _lock = threading.RLock()

    @classmethod
    def join(cls, stream: Any, name: str, total: int | None, max_lines: int) -> _Display:
        with cls._lock:
            display = cls._shared.get(id(stream))
            if display is None:
                display = cls._shared[id(stream)] = cls(stream, max_lines)
            display.add(name, total)
            return display

    def __init__(self, stream: Any, max_lines: int):
        from rich.console import Console
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.key = id(stream)
        self.console = Console(file=stream)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            auto_refresh=False,
        )
        self.max_lines = max_lines
        self.tasks: dict[str, Any] = {}
        self.metrics: dict[str, dict[str, float]] = {}
        self.extremes: dict[str, str] = {}
        self.open: set[str] = set()
        self.drawn = -float("inf")
        self.live = Live(console=self.console, auto_refresh=False, transient=False)
        self.live.start()

    def add(self, name: str, total: int | None) -> None:
        self.tasks[name] = self.progress.add_task(name, total=total)
        self.metrics[name] = {}
        self.open.add(name)

    def note(self, text: str) -> None:
        with self._lock:
            self.console.print(text, markup=False, highlight=False)

    def update(
        self,
        name: str,
        step: int,
        metrics: dict[str, float],
        final: bool,
        extremes: str | None,
    ) -> None:
        with self._lock:
            self.progress.update(self.tasks[name], completed=step)
            self.metrics[name] = dict(metrics)
            if extremes is not None:
                self.extremes[name] = extremes
            now = time.monotonic()
            if final or now - self.drawn >= _REFRESH_S:
                self.drawn = now
                self.live.update(self._render(), refresh=True)

    def leave(self, name: str) -> None:
        with self._lock:
            self.open.discard(name)
            if not self.open:
                self.live.update(self._render(), refresh=True)
                self.live.stop()
                del self._shared[self.key]

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        names = list(self.metrics)
        # Lines: the table's header and rule, the rows, one per progress bar, the
        # best/worst lines and the "more metrics" line.
        extremes = [f"{name}: {text}" for name, text in self.extremes.items()]
        budget = self.max_lines - 2 - len(self.tasks) - len(extremes) - 1
        table = Table(show_edge=False, pad_edge=False)
        table.add_column("metric")
        pivoted = len(names) == 1 and _is_aggregate(self.metrics[names[0]])
        if pivoted:
            metrics = self.metrics[names[0]]
            for statistic in _STATISTICS:
                label = statistic.upper() if statistic == "iqm" else statistic
                table.add_column(label, justify="right")
            bases = list(dict.fromkeys(k.rsplit("/", 1)[0] for k in metrics))
            rows = [
                (base, *(_format(metrics.get(f"{base}/{st}", "")) for st in _STATISTICS))
                for base in bases
            ]
        else:
            for name in names:
                table.add_column(name if len(names) > 1 else "value", justify="right")
            keys = list(dict.fromkeys(k for values in self.metrics.values() for k in values))
            rows = [(key, *(_format(self.metrics[n].get(key, "")) for n in names)) for key in keys]
        rows = sorted(rows, key=lambda row: _priority(row[0]))
        shown, hidden = rows[: max(budget, 1)], len(rows) - max(budget, 1)
        for row in shown:
            table.add_row(*row)
        parts: list[Any] = [table]
        if hidden > 0:
            parts.append(Text(f"({hidden} more metrics: see the run database or TensorBoard)"))
        parts += [Text(line) for line in extremes]
        parts.append(self.progress)
        return Group(*parts)


class _Ranking:
    """The latest `rank_by` value of each member of one population on one stream,
    shared by the members' and the aggregate's backends (each on its own thread)."""

    _shared: dict[tuple[int, str], _Ranking] = {}
    _lock = threading.Lock()

    @classmethod
    def join(cls, stream: Any, population: str) -> _Ranking:
        with cls._lock:
            key = (id(stream), population)
            ranking = cls._shared.get(key)
            if ranking is None:
                ranking = cls._shared[key] = cls(key)
            ranking.users += 1
            return ranking

    def __init__(self, key: tuple[int, str]):
        self.key, self.users = key, 0
        self.values: dict[str, float] = {}

    def record(self, member: str, value: float) -> None:
        with self._lock:
            if np.isfinite(value):
                self.values[member] = value

    def describe(self) -> str | None:
        with self._lock:
            if len(self.values) < 2:
                return None
            best = max(self.values, key=self.values.__getitem__)
            worst = min(self.values, key=self.values.__getitem__)
            return (
                f"best {best} {_format(self.values[best])} | "
                f"worst {worst} {_format(self.values[worst])}"
            )

    def leave(self) -> None:
        with self._lock:
            self.users -= 1
            if self.users <= 0:
                self._shared.pop(self.key, None)


def _population(name: str) -> str:
    """The population a run belongs to: its name without the member part."""
    return name.rsplit("/", 1)[0]


def _is_aggregate(metrics: dict[str, float]) -> bool:
    return bool(metrics) and all(k.rsplit("/", 1)[-1] in _STATISTICS for k in metrics)


def _priority(key: str) -> int:
    return _FIRST.index(key) if key in _FIRST else len(_FIRST)


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed file
        return False


def _format(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    return str(value)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
