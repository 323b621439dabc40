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


class ConsoleBackend(AbstractLoggingBackend):
    """Show training progress on the console.

    On a terminal (`stream.isatty()`), a Rich live display shows a table of the latest
    metrics (one column per run) above one progress bar per run, with elapsed time
    and ETA; runs on the same stream share one display. Anywhere else (CI logs, files,
    pipes), each update is one plain line without escape codes::

        [PPO_CartPole] step 2,048/100,000 (2.0%) | elapsed 0:00:03 | ETA 0:02:27 | ...

    The total comes from `open`'s `metadata["total_timesteps"]`. Under `vmap` only the
    population's aggregate run (mean/min/max over members) is shown, not every member,
    unless `show_members=True`.

    Args:
        stream: Where to write (`sys.stdout` at `open` when `None`).
        show_members: Also show every member of a vmapped population.
        interval: The least time in seconds between two printed updates of a run; its
            last update is always printed at `close`.
        keys: Show only these metrics: a metric is shown when its name is one of
            `keys` or starts with one of them followed by `/` (so `"episode/return_mean"`
            also shows the aggregate's `episode/return_mean/mean`, `/min`, `/max`).
            Every metric when `None`.

    Raises:
        TypeError: An argument has the wrong type (the message names it).
        ValueError: `interval` is negative.
        ImportError: `rich` is missing (`pip install 'lerax[rich]'`).
    """

    def __init__(
        self,
        stream: Any = None,
        show_members: bool = False,
        interval: float = 0.0,
        keys: Sequence[str] | None = None,
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
        require("rich", "rich", "ConsoleBackend")
        self._stream = stream  # private: a stream is no serialisable configuration
        self.show_members = show_members
        self.interval = float(interval)
        self.keys = None if keys is None else tuple(keys)
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
        self._run = _Run(name, stream, None if total is None else int(total), shown)

    def log_hparams(self, hparams: dict[str, Any]) -> None:
        run = self._live()
        text = ", ".join(f"{k}={_format(v)}" for k, v in hparams.items())
        run.note(f"hparams: {text}")

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        run = self._live()
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

    def __init__(self, name: str, stream: Any, total: int | None, shown: bool):
        self.name, self.stream, self.total, self.shown = name, stream, total, shown
        self.start = time.monotonic()
        self.first: tuple[float, int] | None = None
        self.step, self.metrics = 0, {}
        self.printed, self.pending = -float("inf"), False
        self.display = _Display.join(stream, name, total) if shown and _isatty(stream) else None

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

    def _show(self, now: float, final: bool = False) -> None:
        self.printed, self.pending = now, False
        if self.display is not None:
            self.display.update(self.name, self.step, self.metrics, final)
            return
        parts = [f"step {self.step:,}"]
        if self.total:
            parts[0] += f"/{self.total:,} ({100.0 * self.step / self.total:.1f}%)"
        parts.append(f"elapsed {_duration(now - self.start)}")
        eta = self._eta(now)
        if eta is not None:
            parts.append(f"ETA {_duration(eta)}")
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
    def join(cls, stream: Any, name: str, total: int | None) -> _Display:
        with cls._lock:
            display = cls._shared.get(id(stream))
            if display is None:
                display = cls._shared[id(stream)] = cls(stream)
            display.add(name, total)
            return display

    def __init__(self, stream: Any):
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
        self.tasks: dict[str, Any] = {}
        self.metrics: dict[str, dict[str, float]] = {}
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

    def update(self, name: str, step: int, metrics: dict[str, float], final: bool) -> None:
        with self._lock:
            self.progress.update(self.tasks[name], completed=step)
            self.metrics[name] = dict(metrics)
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

        table = Table(show_edge=False, pad_edge=False)
        table.add_column("metric")
        names = list(self.metrics)
        for name in names:
            table.add_column(name if len(names) > 1 else "value", justify="right")
        keys = list(dict.fromkeys(k for values in self.metrics.values() for k in values))
        for key in keys:
            table.add_row(key, *(_format(self.metrics[n].get(key, "")) for n in names))
        return Group(table, self.progress)


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
