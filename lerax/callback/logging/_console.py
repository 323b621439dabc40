"""Console backend: a live table and progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._aggregate import run_group
from ._backend import AbstractLoggingBackend, require
from ._console_display import (
    Display,
    Ranking,
    format_duration,
    format_value,
    isatty,
)

TERMINAL_INTERVAL = 0.1
"""Default least seconds between two redraws of the live display on a terminal."""
PLAIN_INTERVAL = 3.0
"""Default least seconds between two plain lines (logs, pipes, files)."""


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

    Updates are paced by time, not by log event: by default the live display is
    redrawn at most every `TERMINAL_INTERVAL` seconds (0.1) and a plain stream gets a
    line at most every `PLAIN_INTERVAL` seconds (3), whatever the algorithm and its
    `log_interval`. The first update and the last one (at `close`) are always shown;
    an event that is not shown only updates the latest values, which costs the
    writer thread almost nothing.

    Args:
        stream: Where to write (`sys.stdout` at `open` when `None`).
        show_members: Also show every member of a vmapped population.
        interval: The least time in seconds between two shown updates of a run (0: every
            log event); its last update is always shown at `close`. `None` (the
            default): `TERMINAL_INTERVAL` on a terminal, `PLAIN_INTERVAL` elsewhere.
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
        interval: float | None = None,
        keys: Sequence[str] | None = None,
        max_lines: int = 24,
        rank_by: str = "episode/return_mean",
    ):
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must be a text stream with write() or None, got {stream!r}")
        if not isinstance(show_members, bool):
            raise TypeError(f"show_members must be a bool, got {show_members!r}")
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int | float)
        ):
            raise TypeError(f"interval must be a number of seconds or None, got {interval!r}")
        if interval is not None and not interval >= 0:
            raise ValueError(f"interval must be >= 0 seconds or None, got {interval!r}")
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
        self.interval = None if interval is None else float(interval)
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
        ranking = None
        if int(metadata.get("num_members") or 1) > 1 and member:
            # Members and their aggregate run share one ranking per stream.
            group = tuple(metadata.get("group") or run_group(member, 0))
            ranking = Ranking.join((id(stream), metadata.get("population", ""), group))
        interval = self.interval
        if interval is None:
            interval = TERMINAL_INTERVAL if isatty(stream) else PLAIN_INTERVAL
        self._run = _Run(
            name,
            stream,
            None if total is None else int(total),
            shown,
            self.max_lines,
            ranking,
            aggregate=member[:1] == ("aggregate",),
            interval=interval,
        )

    def log_hparams(self, hparams: dict[str, Any]) -> None:
        run = self._live()
        text = ", ".join(f"{k}={format_value(v)}" for k, v in hparams.items())
        run.note(f"hparams: {text}")

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        run = self._live()
        if run.ranking is not None and self.rank_by in scalars and not run.aggregate:
            run.ranking.record(run.name, float(scalars[self.rank_by]))
        if not run.shown:  # a population member: only the aggregate is shown
            return
        shown = {k: float(v) for k, v in scalars.items() if self._shows(k)}
        run.update(shown, int(step))

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
        ranking: Ranking | None,
        *,
        aggregate: bool,
        interval: float,
    ):
        self.name, self.stream, self.total, self.shown = name, stream, total, shown
        self.ranking, self.aggregate, self.interval = ranking, aggregate, interval
        self.start = time.monotonic()
        self.first: tuple[float, int] | None = None
        self.step, self.metrics = 0, {}
        self.printed, self.pending = -float("inf"), False
        self.display = None
        if shown and isatty(stream):
            self.display = Display.join(stream, name, total, max_lines)

    def note(self, text: str) -> None:
        if not self.shown:
            return
        if self.display is not None:
            self.display.note(f"[{self.name}] {text}")
        else:
            self._write(f"[{self.name}] {text}")

    def update(self, metrics: dict[str, float], step: int) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = (now, step)
        self.step = step
        self.metrics.update(metrics)
        self.pending = True
        if self.shown and now - self.printed >= self.interval:
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
            # A copy: the display may render it on its own thread while this one updates.
            self.display.update(self.name, self.step, dict(self.metrics), final, self.extremes())
            return
        parts = [f"step {self.step:,}"]
        if self.total:
            parts[0] += f"/{self.total:,} ({100.0 * self.step / self.total:.1f}%)"
        parts.append(f"elapsed {format_duration(now - self.start)}")
        eta = self._eta(now)
        if eta is not None:
            parts.append(f"ETA {format_duration(eta)}")
        extremes = self.extremes()
        if extremes is not None:
            parts.append(extremes)
        parts += [f"{k} {format_value(v)}" for k, v in self.metrics.items()]
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
