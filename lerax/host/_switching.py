"""Keep crossings from waiting behind host-side Python threads.

A crossing runs its receiver on an XLA thread that must take Python's GIL. While a
background writer (TensorBoard, SQLite, W&B, ...) holds the GIL, CPython hands it
over only every `sys.getswitchinterval()` seconds (5 ms by default), and the
compiled program waits that long at every crossing. On the PPO CartPole workload
with TensorBoard + SQLite + Console logging every iteration, a 0.1 ms interval cuts
most of that wait (the measurements are in benchmarks/README.md).

`responsive_switching()` lowers the interval while a training program with
crossings runs and restores the previous value afterwards (nesting and concurrent
runs from several threads are counted, the first caller's value is restored by the
last one to leave).
"""

from __future__ import annotations

import contextlib
import sys
import threading

SWITCH_INTERVAL = 1e-4  # seconds; CPython's default is 5e-3

_lock = threading.Lock()
_depth = 0
_saved: float | None = None


@contextlib.contextmanager
def responsive_switching(interval: float = SWITCH_INTERVAL):
    """Lower Python's thread switch interval to `interval` seconds for the block.

    Args:
        interval: The switch interval to use (only ever lowered, never raised).
    """
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = sys.getswitchinterval()
            sys.setswitchinterval(min(interval, _saved))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                sys.setswitchinterval(_saved)
                _saved = None
