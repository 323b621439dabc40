"""The terminal side of `ConsoleBackend`: the Rich live display shared by the runs on one
stream, the best/worst ranking of a population's members, and value formatting."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from ._aggregate import STATISTICS

_REFRESH_S = 0.1  # the live display redraws at most this often (plus once at close)
_COLUMNS = ("mean", "iqm", "min", "max")  # an aggregate run's STATISTICS, in this order
_FIRST = (  # shown first (the rest in the order they arrive) when rows must be cut
    "episode/return_mean",
    "reward/moving_avg",
    "episode/length_mean",
    "eval/mean_return",
)


class Display:
    """The Rich live display shared by all runs on one terminal stream."""

    _shared: dict[int, Display] = {}
    _lock = threading.RLock()

    @classmethod
    def join(cls, stream: Any, name: str, total: int | None, max_lines: int) -> Display:
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
            for statistic in _COLUMNS:
                label = statistic.upper() if statistic == "iqm" else statistic
                table.add_column(label, justify="right")
            bases = list(dict.fromkeys(k.rsplit("/", 1)[0] for k in metrics))
            rows = [
                (base, *(format_value(metrics.get(f"{base}/{st}", "")) for st in _COLUMNS))
                for base in bases
            ]
        else:
            for name in names:
                table.add_column(name if len(names) > 1 else "value", justify="right")
            keys = list(dict.fromkeys(k for values in self.metrics.values() for k in values))
            rows = [
                (key, *(format_value(self.metrics[n].get(key, "")) for n in names)) for key in keys
            ]
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


class Ranking:
    """The latest `rank_by` value of each member of one population on one stream,
    shared by the members' and the aggregate's backends (each on its own thread)."""

    _shared: dict[tuple, Ranking] = {}
    _lock = threading.Lock()

    @classmethod
    def join(cls, key: tuple) -> Ranking:
        """The ranking of `key` (stream id, population, aggregate group), shared."""
        with cls._lock:
            ranking = cls._shared.get(key)
            if ranking is None:
                ranking = cls._shared[key] = cls(key)
            ranking.users += 1
            return ranking

    def __init__(self, key: tuple):
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
                f"best {best} {format_value(self.values[best])} | "
                f"worst {worst} {format_value(self.values[worst])}"
            )

    def leave(self) -> None:
        with self._lock:
            self.users -= 1
            if self.users <= 0:
                self._shared.pop(self.key, None)


def _is_aggregate(metrics: dict[str, float]) -> bool:
    return bool(metrics) and all(k.rsplit("/", 1)[-1] in STATISTICS for k in metrics)


def _priority(key: str) -> int:
    return _FIRST.index(key) if key in _FIRST else len(_FIRST)


def isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed file
        return False


def format_value(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    return str(value)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
