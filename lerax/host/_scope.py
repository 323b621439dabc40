"""The host side of one training call (`RunScope`), and how crossings find it.

A compiled training program must not depend on WHICH callback objects it was traced
with, or a fresh callback of the same configuration would compile again. So nothing
host-side is baked into the program:

* channels are named by position (`lerax.callback.CallbackList` prefixes each
  child's channels with its index while tracing, see `channel_scope`), so two
  callback lists of the same configuration trace to the same channel names;
* each `learn` / `train` / `train_population` call opens a `RunScope` that holds
  that call's receivers under a fresh integer token. The token is an ARGUMENT of the
  compiled program (traced, not static) and crosses with every event, so the host
  routes each event to the receivers of the call that is running, even when
  several calls run at once in one process.

The scope owns everything host-side for the call: when the call ends (normally,
with an exception or a `KeyboardInterrupt`) `RunScope.close` unregisters the
receivers and closes every receiver that has a `close_run` method, so nothing
outlives the call.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int

Receiver = Callable[[Any, np.ndarray], Any]

_lock = threading.Lock()
_tokens = itertools.count(1)  # 0 is the process-wide table of `register`
_runs: dict[int, RunScope] = {}
_token_stack: list[Int[Array, ""]] = []
_channel_stack: list[str] = []


class RunScope:
    """The receivers of ONE training call, reachable from its program by `token`.

    Args:
        receivers: Channel name -> receiver (see `lerax.host.register`). A receiver,
            or the object a bound-method receiver belongs to, that has a
            `close_run(*, interrupted: bool)` method is closed once by `close`.
    """

    def __init__(self, receivers: Mapping[str, Receiver]):
        self.receivers: dict[str, Receiver] = dict(receivers)
        self.failed: dict[str, str] = {}
        self.closed = False
        with _lock:
            self.token = next(_tokens)
            _runs[self.token] = self

    @property
    def token_array(self) -> Int[Array, ""]:
        """The token as the int32 array the compiled program takes as an argument."""
        return jnp.asarray(self.token, jnp.int32)

    def close(self, *, interrupted: bool = False) -> None:
        """Unregister the receivers, then close each closable one (idempotent).

        Every `close_run` is called even if an earlier one raised; the first such
        error is reported on stderr, not raised (the training result is kept).

        Args:
            interrupted: Whether the call ended early (exception, interrupt), so that
                receivers can record it (e.g. a run's status in the SQLite store).
        """
        with _lock:
            if self.closed:
                return
            self.closed = True
            _runs.pop(self.token, None)
        for owner in _closable(self.receivers.values()):
            try:
                owner.close_run(interrupted=interrupted)
            except Exception:  # noqa: BLE001 - every receiver must get its close
                print(
                    f"lerax: closing {type(owner).__name__} failed:\n{traceback.format_exc()}",
                    file=sys.stderr,
                )


def _closable(receivers) -> list[Any]:
    owners: list[Any] = []
    seen: set[int] = set()
    for receiver in receivers:
        owner = getattr(receiver, "__self__", receiver)
        if callable(getattr(owner, "close_run", None)) and id(owner) not in seen:
            seen.add(id(owner))
            owners.append(owner)
    return owners


def run_scope(token: int) -> RunScope | None:
    """The open scope with `token` (None once it closed)."""
    with _lock:
        return _runs.get(token)


def open_runs() -> list[int]:
    """Tokens of the scopes still open (for tests and leak checks)."""
    with _lock:
        return sorted(_runs)


@contextlib.contextmanager
def run_token(token: Int[Array, ""]):
    """While tracing a training program, tag every `send` with `token` (the program's
    argument), so that its events reach the receivers of the call running it."""
    _token_stack.append(jnp.asarray(token, jnp.int32))
    try:
        yield
    finally:
        _token_stack.pop()


def current_token() -> Int[Array, ""]:
    """The token of the program being traced (0 outside `run_token`)."""
    return _token_stack[-1] if _token_stack else jnp.zeros((), jnp.int32)


@contextlib.contextmanager
def channel_scope(name: str):
    """While tracing, prefix the channel of every `send` with `name/`.

    `CallbackList` enters `channel_scope(str(i))` around its i-th child's hooks and
    prefixes that child's `host_receivers` the same way, so channels are named by
    position, not by object identity.
    """
    _channel_stack.append(str(name))
    try:
        yield
    finally:
        _channel_stack.pop()


def scoped_channel(channel: str) -> str:
    """`channel` with the prefixes of the enclosing `channel_scope`s."""
    return "/".join([*_channel_stack, channel])


def prefixed(prefix: str, receivers: Mapping[str, Receiver]) -> dict[str, Receiver]:
    """`receivers` under `prefix/<channel>` (the host-side half of `channel_scope`)."""
    return {f"{prefix}/{channel}": receiver for channel, receiver in receivers.items()}
