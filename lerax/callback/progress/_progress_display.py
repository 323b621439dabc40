"""The host side of `ProgressBarCallback`: a rich bar on a terminal, plain text
elsewhere, always closed (at training end, when the training call's run scope
closes, or at exit)."""

from __future__ import annotations

import atexit
import dataclasses
import sys
import threading
import time
from typing import IO, Any

import numpy as np

from lerax.host import Pace

from .._host_only import member_label

START, ITERATION, END = 0, 1, 2

_lock = threading.Lock()
_open: dict[int, ProgressDisplay] = {}  # id -> display, while it is drawn
_atexit_registered = False


def close_all() -> None:
    """Close every display still open (registered with `atexit`)."""
    with _lock:
        displays = list(_open.values())
        _open.clear()
    for display in displays:
        try:
            display.close(reason="interrupted")
        except (OSError, ValueError):  # the stream may already be closed at exit
            pass


@dataclasses.dataclass
class _Member:
    steps: int
    total: int
    iteration: int
    stopped: bool


@dataclasses.dataclass
class _Unit:
    """One bar: a member, or the whole population."""

    key: str
    name: str
    steps: int
    total: int
    stopped: bool


@dataclasses.dataclass
class _View:
    start_steps: int
    next_milestone: int = 10
    task: Any = None


class ProgressDisplay:
    """Receives the progress crossings of one training run and draws them.

    `rich` is used when the stream is a terminal and `rich` is importable; the
    receiver then only updates numbers and rich redraws on its own timer. Otherwise
    plain lines are written (see `ProgressBarCallback`).

    Args:
        label: Text in front of the bar, e.g. `"PPO CartPole-v1"`.
        stream: Where to draw; `None` means `sys.stderr` now.
        per_member: One bar per vmapped member instead of one for the population.
    """

    def __init__(
        self,
        label: str,
        *,
        stream: IO[str] | None,
        per_member: bool,
        updates_per_second: float = 10.0,
    ):
        self.pace = Pace(updates_per_second)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.per_member = per_member
        self.members: dict[tuple[int, ...], _Member] = {}
        self.views: dict[str, _View] = {}
        self.progress: Any = None
        self.start_time = 0.0
        self.closed = False
        self.lock = threading.Lock()

    # ------------------------------------------------------------ receiver

    def __call__(self, rows: dict[str, np.ndarray], index: np.ndarray) -> int:
        """Record and draw one event; return the iterations to wait before the next
        update (used when the bar is host-paced, see `Pace`)."""
        with self.lock:
            if self.closed:
                return 1
            event = int(rows["event"][0])
            for r in range(index.shape[0]):
                self.members[tuple(int(i) for i in index[r])] = _Member(
                    steps=int(rows["timesteps"][r]),
                    total=int(rows["total"][r]),
                    iteration=int(rows["iteration"][r]),
                    stopped=bool(rows["stopped"][r]),
                )
            if event == START:
                self._open()
            elif event == ITERATION:
                self._draw(final=False)
            else:
                self._draw(final=True)
                self._close("done")
            iteration = max(int(i) for i in rows["iteration"]) if index.shape[0] else 0
            return self.pace(iteration, time.perf_counter(), restart=event == START)

    def close(self, reason: str = "interrupted") -> None:
        """Close the display (idempotent); its last line says `reason`."""
        with self.lock:
            self._close(reason)

    def close_run(self, *, interrupted: bool) -> None:
        """The training call ended (its run scope closes): close if still open."""
        self.close("interrupted" if interrupted else "ended")

    # ------------------------------------------------------------ internals

    def _open(self) -> None:
        global _atexit_registered
        with _lock:
            _open[id(self)] = self
            if not _atexit_registered:
                atexit.register(close_all)
                _atexit_registered = True
        self.start_time = time.perf_counter()
        self.progress = _rich_progress(self.stream)
        for unit in self._units():
            view = self.views[unit.key] = _View(start_steps=unit.steps)
            if self.progress is None:
                self._line(unit, "started")
            else:
                view.task = self.progress.add_task(
                    unit.name, total=max(unit.total, 1), completed=unit.steps, **self._fields(unit)
                )
        if self.progress is not None:
            self.progress.start()

    def _units(self) -> list[_Unit]:
        members = sorted(self.members.items())
        if not members:
            return []
        if self.per_member or len(members) == 1:
            return [
                _Unit(
                    key=member_label(member) or "run",
                    name=" ".join(s for s in (self.label, member_label(member)) if s),
                    steps=m.steps,
                    total=m.total,
                    stopped=m.stopped,
                )
                for member, m in members
            ]
        latest = max(m.iteration for _, m in members)
        stopped = sum(m.stopped or m.iteration < latest for _, m in members)
        runs = f"{len(members)} runs" + (f", {stopped} stopped" if stopped else "")
        return [
            _Unit(
                key="aggregate",
                name=f"{self.label} ({runs})",
                steps=max(m.steps for _, m in members),
                total=max(m.total for _, m in members),
                stopped=stopped == len(members),
            )
        ]

    def _fields(self, unit: _Unit) -> dict[str, str]:
        elapsed = max(time.perf_counter() - self.start_time, 0.0)
        view = self.views.get(unit.key)
        done = unit.steps - (unit.steps if view is None else view.start_steps)
        rate = done / elapsed if elapsed > 0 and done > 0 else 0.0
        remaining = max(unit.total - unit.steps, 0)
        if remaining == 0:
            eta = "0:00:00"
        else:
            eta = _clock(remaining / rate) if rate > 0 else "-:--:--"
        return {
            "percent": f"{100 * unit.steps // max(unit.total, 1):3d}%",
            "rate": f"{rate:,.0f}" if rate > 0 else "-",
            "elapsed": _clock(elapsed),
            "eta": eta,
        }

    def _draw(self, final: bool) -> None:
        for unit in self._units():
            view = self.views.setdefault(unit.key, _View(start_steps=unit.steps))
            if self.progress is not None:
                status = _final_status(unit) if final else "done"
                name = unit.name if status == "done" else f"{unit.name} ({status})"
                self.progress.update(
                    view.task, description=name, completed=unit.steps, **self._fields(unit)
                )
            elif final:
                self._line(unit, _final_status(unit))
            else:
                percent = 100 * unit.steps // max(unit.total, 1)
                if view.next_milestone <= percent < 100:  # 100% is the final line's
                    view.next_milestone = percent // 10 * 10 + 10
                    self._line(unit, "")

    def _line(self, unit: _Unit, status: str) -> None:
        f = self._fields(unit)
        parts = [
            f"{unit.name}: {unit.steps}/{unit.total} steps ({f['percent'].strip()})",
            f"{f['rate']} steps/s",
            f"{f['elapsed']} elapsed",
            status or f"ETA {f['eta']}",
        ]
        self.stream.write(" | ".join(parts) + "\n")
        self.stream.flush()

    def _close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with _lock:
            _open.pop(id(self), None)
        if self.progress is not None:
            if reason != "done":
                for unit in self._units():
                    if unit.key in self.views:
                        task = self.views[unit.key].task
                        self.progress.update(task, description=f"{unit.name} ({reason})")
            self.progress.stop()
        elif reason != "done":
            for unit in self._units():
                self._line(unit, reason)


def _final_status(unit: _Unit) -> str:
    if unit.stopped:
        return "stopped early"
    return "done" if unit.steps >= unit.total else "ended"


def _rich_progress(stream: IO[str]) -> Any:
    """A rich `Progress` drawing on `stream` if it is a terminal and rich is installed."""
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()):
        return None
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        from rich.table import Column
    except ImportError:
        return None
    # The numbers keep their width; on a narrow terminal the label is shortened.
    return Progress(
        TextColumn(
            "{task.description}",
            table_column=Column(ratio=2, overflow="ellipsis", no_wrap=True),
        ),
        BarColumn(bar_width=None, table_column=Column(ratio=1)),
        TextColumn("{task.fields[percent]}"),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} steps/s"),
        TextColumn("ETA {task.fields[eta]}"),
        console=Console(file=stream),
        expand=True,
        auto_refresh=True,
        refresh_per_second=4,
        redirect_stdout=False,
        redirect_stderr=False,
    )


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
