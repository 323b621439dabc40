"""Host-side receivers of crossings, keyed by channel name.

A receiver is a plain Python callable `receiver(rows, index)` where `rows` is the
payload pytree of numpy arrays with a leading row axis (one row per vmapped member
that was due) and `index` is an int32 array `(rows, depth)` holding each row's
member index tuple (depth 0 for a plain, unvmapped run). A receiver may return an
int: `send` returns it on the device (0 otherwise), so the host can pace the
program (see `ProgressBarCallback`).

Receivers never raise into XLA: an exception is reported once on stderr, the
receiver is disabled for the rest of the process (or until registered again), and
training goes on.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

Receiver = Callable[[Any, np.ndarray], None]

_lock = threading.Lock()
_receivers: dict[str, Receiver] = {}
_failed: dict[str, str] = {}
_counts: dict[str, int] = {}


def register(channel: str, receiver: Receiver) -> None:
    """Register (or replace) the receiver of `channel` and clear its failure record."""
    with _lock:
        _receivers[channel] = receiver
        _failed.pop(channel, None)


def unregister(channel: str) -> None:
    """Remove the receiver of `channel` (later crossings to it are dropped)."""
    with _lock:
        _receivers.pop(channel, None)


def host_calls(channel: str) -> int:
    """How many host calls `channel` has received in this process."""
    return _counts.get(channel, 0)


def failure(channel: str) -> str | None:
    """The error that disabled `channel`'s receiver, if any."""
    return _failed.get(channel)


def deliver(channel: str, rows: Any, index: np.ndarray) -> int:
    """Hand one crossing to its receiver; called from the host call of a crossing.

    Returns:
        The receiver's reply if it returned an int (the value `send` returns on the
        device, e.g. how many iterations to wait before the next update), else 0.
    """
    with _lock:
        _counts[channel] = _counts.get(channel, 0) + 1
        receiver = None if channel in _failed else _receivers.get(channel)
    if receiver is None:
        return 0
    try:
        reply = receiver(rows, index)
        if isinstance(reply, (int, np.integer)) and not isinstance(reply, bool):
            return int(np.clip(reply, 0, np.iinfo(np.int32).max))
        return 0
    except Exception as error:  # noqa: BLE001 - isolate: never raise into XLA
        message = f"{type(error).__name__}: {error}"
        with _lock:
            _failed[channel] = message
        print(
            f"lerax: host receiver for channel {channel!r} failed and is disabled; "
            f"training continues.\n{traceback.format_exc()}",
            file=sys.stderr,
        )
        return 0
