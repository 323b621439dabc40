"""One worker thread per logging backend: a slow or broken backend holds nothing.

`LoggingCallback` writes to several backends (TensorBoard, W&B, SQLite, ...). Each
backend slot `i` (the `i`-th backend given to the callback) gets a thread of its
own, and every member run's copy of backend `i` goes to that thread, so each
backend sees its calls in program order while the backends run side by side. A
backend stuck on the network delays only itself; one that raises (anything:
`KeyboardInterrupt` and `SystemExit` raised by backend code on a worker are
backend failures too) is reported once and disabled; at the end each backend gets
a deadline, after which it is reported by name and left behind.

The host-side bookkeeping of an event (which member runs, steps, aggregates) runs
on one more thread, the dispatcher, so the receiver called by the compiled program
only queues the event and returns.

Threads start on first use and end when their work is done after `close`: the
process holds no logging thread between sessions (a backend left behind ends its
thread as soon as its stuck call returns).
"""

from __future__ import annotations

import collections
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

#: Backend calls that write an event (counted in "events not written").
_EVENTS = ("log_hparams", "log_scalars", "log_video")


class _Job:
    __slots__ = ("what", "fn", "args", "events")

    def __init__(self, what: str, fn: Callable[..., Any], args: tuple, events: int = 1):
        self.what = what
        self.fn = fn
        self.args = args
        self.events = events  # how many events the job writes (a batch writes several)


class _Lane:
    """One daemon thread running its jobs in order, started on first use.

    After `finish()` the thread ends as soon as it has run every job it holds (a
    later job starts a new one, which ends the same way).
    """

    def __init__(self, name: str, run: Callable[[_Job], None]):
        self.name = name
        self._run = run
        self._cond = threading.Condition()
        self._jobs: collections.deque[_Job] = collections.deque()
        self._current: _Job | None = None
        self._thread: threading.Thread | None = None
        self._ended: threading.Thread | None = None
        self.finishing = False

    def put(self, job: _Job) -> None:
        with self._cond:
            self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self.finishing = True
            self._cond.notify_all()

    def wait(self, deadline: float) -> bool:
        """Wait until every job ran (and, when finishing, the thread ended); False at
        `deadline` (a `time.monotonic()` value) if some job is still pending."""
        with self._cond:
            while self._jobs or self._current is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            thread = (self._thread or self._ended) if self.finishing else None
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(deadline - time.monotonic(), 0.0))
        return True

    def pending(self) -> tuple[str | None, int]:
        """The call running now (or None) and how many events are not written yet."""
        with self._cond:
            jobs = list(self._jobs)
            current = self._current
        if current is not None:
            jobs.append(current)
        return (current.what if current else None), sum(
            job.events for job in jobs if job.what in _EVENTS
        )

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self.finishing:
                    self._cond.wait()
                if not self._jobs:
                    self._ended, self._thread = self._thread, None
                    self._cond.notify_all()
                    return
                job = self._current = self._jobs.popleft()
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._current = None
                    self._cond.notify_all()


class BackendWorkers:
    """The worker threads of one logging session: one per backend slot, and a dispatcher.

    Args:
        names: The class name of each backend slot, in the callback's order (used in
            reports and thread names).
        prefix: Thread name prefix.

    Attributes:
        disabled: `{slot: reason}` of the backend slots that failed or were left
            behind; their later calls (except `close`) are skipped.
    """

    def __init__(self, names: Sequence[str], prefix: str = "lerax-logging"):
        self.names = tuple(names)
        self.disabled: dict[int, str] = {}
        self._left: set[int] = set()  # slots left behind by a close: not waited for again
        self._lock = threading.Lock()
        self._lanes = [
            _Lane(f"{prefix}-{i}-{name}", lambda job, i=i: self._guarded(i, job))
            for i, name in enumerate(self.names)
        ]
        self._dispatcher = _Lane(f"{prefix}-dispatch", self._reported)

    # ---------------------------------------------------------------- jobs

    def dispatch(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` (lerax's own bookkeeping, which calls `submit`) in order on
        the dispatcher thread; an exception is reported on stderr."""
        self._dispatcher.put(_Job(getattr(fn, "__name__", "job"), fn, args))

    def submit(
        self, i: int, what: str, fn: Callable[..., Any], *args: Any, events: int = 1
    ) -> None:
        """Run backend code `fn(*args)` on slot `i`'s worker, after its earlier calls.

        The first exception (any `BaseException`) of slot `i` is reported once on
        stderr, naming the backend class and `what`, and disables the slot: its later
        calls are skipped, except `what == "close"`, which always runs (quietly
        when it fails on a disabled slot) so that every backend releases its files
        and connections. Calls to a slot that is disabled already are dropped here.

        Args:
            i: The backend slot (index in the callback's backend list).
            what: The backend method, for reports (`"open"`, `"log_scalars"`, ...,
                `"close"`).
            fn: The bound backend method (or any callable running backend code).
            *args: Its arguments.
            events: How many events the call writes (a batch of a crossing: several),
                for the report of a backend left behind.
        """
        if what != "close" and i in self.disabled:
            return
        self._lanes[i].put(_Job(what, fn, args, events))

    # ---------------------------------------------------------------- ends

    def finish(self) -> None:
        """Let every thread end once it has run what it holds (non-blocking)."""
        for lane in (self._dispatcher, *self._lanes):
            lane.finish()

    def drain(self, timeout: float) -> dict[int, int]:
        """Wait until every backend has written what it was given, `timeout` at most.

        The backends run side by side, so each gets `timeout` seconds from now. A
        backend still busy then is reported on stderr by name with the number of
        events it has not written. After `finish()` (the session is closing) such a
        backend is left behind: its slot is disabled, its pending events are dropped
        once its stuck call returns (its `close` still runs) and its thread then
        ends; a later `drain` neither waits for it nor reports it again. Otherwise (a
        run inside `with LoggingCallback(...)` ended) it keeps writing in the
        background.

        Args:
            timeout: Seconds (> 0).

        Returns:
            `{slot: events not written}` of the backends still busy.
        """
        deadline = time.monotonic() + timeout
        if not self._dispatcher.wait(deadline):
            print(
                f"lerax: logging is still dispatching events after {timeout:g} s; "
                f"the backends may miss the last ones.",
                file=sys.stderr,
            )
        busy: dict[int, int] = {}
        for i, lane in enumerate(self._lanes):
            if i in self._left or lane.wait(deadline):
                continue
            what, events = lane.pending()
            busy[i] = events
            self._report_busy(i, lane, what, events, timeout)
        return busy

    def close(self, timeout: float) -> dict[int, int]:
        """`finish()`, then `drain(timeout)`: every worker ends, or is left behind."""
        self.finish()
        return self.drain(timeout)

    # ---------------------------------------------------------------- internals

    def _guarded(self, i: int, job: _Job) -> None:
        if job.what != "close" and i in self.disabled:
            return
        try:
            job.fn(*job.args)
        except BaseException as error:  # noqa: BLE001 - backend code: isolate the slot
            with self._lock:
                if i in self.disabled:
                    return  # a disabled backend failing to close: reported already
                self.disabled[i] = f"{type(error).__name__}: {error}"
            print(
                f"lerax: logging backend {self.names[i]} failed in {job.what} and is "
                f"disabled for this session; training and the other backends continue.\n"
                f"{traceback.format_exc()}",
                file=sys.stderr,
            )

    def _reported(self, job: _Job) -> None:
        try:
            job.fn(*job.args)
        except BaseException:  # noqa: BLE001 - never kill the dispatcher: report it
            print(
                f"lerax: logging failed in {job.what}; this event is lost.\n"
                f"{traceback.format_exc()}",
                file=sys.stderr,
            )

    def _report_busy(self, i: int, lane: _Lane, what: str | None, events: int, timeout: float):
        name, call = self.names[i], f" in {what}" if what else ""
        if lane.finishing:
            self._left.add(i)
            with self._lock:
                self.disabled.setdefault(i, f"still busy{call} after {timeout:g} s")
            print(
                f"lerax: logging backend {name} is still busy{call} after close_timeout="
                f"{timeout:g} s and had not written {events} event(s); it is left behind "
                f"(those events are dropped) and training goes on.",
                file=sys.stderr,
            )
        else:
            print(
                f"lerax: logging backend {name} is still busy{call} after close_timeout="
                f"{timeout:g} s with {events} event(s) not written yet; it goes on writing "
                f"in the background.",
                file=sys.stderr,
            )
