"""Host-side receivers of crossings, keyed by channel name.

A receiver is a plain Python callable `receiver(rows, index)` where `rows` is the
payload pytree of numpy arrays with a leading row axis (one row per vmapped member
that was due) and `index` is an int32 array `(rows, depth)` holding each row's
member index tuple (depth 0 for a plain, unvmapped run). A receiver may return an
int: `send` returns it on the device (0 otherwise), so the host can pace the
program (see `ProgressBarCallback`).

Two tables: the receivers of a training call live in its `RunScope` (see
`_scope.py`; the driver opens and closes it), found by the token the program
carries; `register` fills the process-wide table (token 0) that crossings traced
outside any training call use.

Receivers never raise into XLA: an exception is reported once on stderr, the
receiver is disabled (for the rest of the call, or of the process for the
process-wide table, until registered again), and training goes on.
"""

from __future__ import annotations

import sys
import threading
import traceback
from typing import Any

import numpy as np

from ._scope import Receiver, run_scope

_lock = threading.Lock()
_receivers: dict[str, Receiver] = {}
_failed: dict[str, str] = {}
_counts: dict[str, int] = {}
_dropped: set[int] = set()  # tokens of closed runs whose late events were reported


def register(channel: str, receiver: Receiver) -> None:
    """Register (or replace) the process-wide receiver of `channel` and clear its
    failure record (for crossings traced outside a training call)."""
    with _lock:
        _receivers[channel] = receiver
        _failed.pop(channel, None)


def unregister(channel: str) -> None:
    """Remove the process-wide receiver of `channel` (later crossings are dropped)."""
    with _lock:
        _receivers.pop(channel, None)


def host_calls(channel: str) -> int:
    """How many host calls `channel` has received in this process (all runs)."""
    return _counts.get(channel, 0)


def failure(channel: str) -> str | None:
    """The error that disabled the process-wide receiver of `channel`, if any."""
    return _failed.get(channel)


def deliver(token: int, channel: str, rows: Any, index: np.ndarray) -> int:
    """Hand one crossing to its receiver; called from the host call of a crossing.

    Args:
        token: The run token the program carries (0: the process-wide table).
        channel: The channel name.
        rows: The payload rows (numpy).
        index: The rows' member indices.

    Returns:
        The receiver's reply if it returned an int (the value `send` returns on the
        device, e.g. how many iterations to wait before the next update), else 0.
    """
    scope = run_scope(token) if token else None
    with _lock:
        _counts[channel] = _counts.get(channel, 0) + 1
        if token == 0:
            failed = _failed
            receiver = None if channel in _failed else _receivers.get(channel)
        elif scope is not None:
            failed = scope.failed
            receiver = None if channel in scope.failed else scope.receivers.get(channel)
        else:
            failed, receiver = {}, None
            first_drop = token not in _dropped
            _dropped.add(token)
    if receiver is None:
        if token and scope is None and first_drop:
            print(
                f"lerax: events (channel {channel!r}) arrived after their training call "
                "ended and are dropped: the call was interrupted while its program ran "
                "on, or its program was traced inside your own `jax.jit` and ran again "
                "(call `learn` outside `jax.jit`).",
                file=sys.stderr,
            )
        return 0
    try:
        reply = receiver(rows, index)
        if isinstance(reply, (int, np.integer)) and not isinstance(reply, bool):
            return int(np.clip(reply, 0, np.iinfo(np.int32).max))
        return 0
    except Exception as error:  # noqa: BLE001 - isolate: never raise into XLA
        message = f"{type(error).__name__}: {error}"
        with _lock:
            failed[channel] = message
        print(
            f"lerax: host receiver for channel {channel!r} failed and is disabled; "
            f"training continues.\n{traceback.format_exc()}",
            file=sys.stderr,
        )
        return 0
