"""A background thread that runs host-side jobs in order, off the compiled program.

Receivers called from a crossing should return quickly: they hand a job (with a
copy of the numpy payload) to a `BackgroundWorker` and return, and the training
program goes on while the job writes to disk or to the network. At training end a
receiver calls `drain()`, so everything submitted is done before `learn` returns,
and the run's scope calls `close()`, which ends the thread.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any


class BackgroundWorker:
    """One daemon thread running submitted jobs one after another, in order.

    A job that raises is reported on stderr with its traceback and the worker goes
    on; jobs that must disable themselves after a failure do so on their own.

    Args:
        name: Thread name (shows in tracebacks and debuggers).
        max_pending: Most jobs waiting at once; `submit` blocks (back-pressure on
            the program) while the queue is full. 0 means unbounded.
    """

    def __init__(self, name: str, max_pending: int = 0):
        self.name = name
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue `fn(*args)` to run on the worker thread (started on first use)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
        self._queue.put((fn, args))

    def drain(self) -> None:
        """Block until every submitted job has finished."""
        self._queue.join()

    def close(self, timeout: float | None = None) -> bool:
        """Let the thread finish the jobs it holds, then end it.

        Args:
            timeout: Seconds to wait at most (None: as long as it takes). A thread
                still busy then is left to finish on its own (it is a daemon thread
                and ends after its last job).

        Returns:
            True if the thread ended (or never started) within `timeout`.
        """
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None or not thread.is_alive():
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return False
        thread.join(None if deadline is None else max(deadline - time.monotonic(), 0.0))
        return not thread.is_alive()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._queue.task_done()
                return
            fn, args = item
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - a failing job must not kill the worker
                print(
                    f"lerax: background job in {self.name!r} failed:\n{traceback.format_exc()}",
                    file=sys.stderr,
                )
            finally:
                self._queue.task_done()


_STOP = object()
