"""Ctrl-C during a training program: stop at the next iteration, lose nothing.

On XLA:CPU a compiled program runs inside one call the main thread cannot leave, so
Python's `KeyboardInterrupt` would only be raised after the whole program ended. A
program with host crossings therefore asks the host, a couple of times a second
(host-paced, like the progress bar), whether to go on. The host learns of Ctrl-C
without the main thread: CPython's C signal handler writes the signal number to the
wakeup file descriptor (`signal.set_wakeup_fd`), which the receiver reads. The
program then stops after the current iteration, runs `on_training_end` (every
buffered log event crosses, the final checkpoint is saved), the run scope marks the
runs interrupted, and `KeyboardInterrupt` is raised in the caller as usual.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import threading
import time

import jax.numpy as jnp
from jaxtyping import Array, Int

from lerax import host

CONTROL_CHANNEL = "lerax.run/control"
CHECKS_PER_SECOND = 2.0
_STOP = 1  # reply meaning "stop now"; a reply n >= 2 means "ask again in n - 1 iterations"


class InterruptWatch:
    """While open (main thread only), note every SIGINT the process receives."""

    def __init__(self):
        self.requested = False
        self._reader: socket.socket | None = None
        self._writer: socket.socket | None = None
        self._previous = -1

    @contextlib.contextmanager
    def watching(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        try:
            self._previous = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        except ValueError:  # not the main thread of the main interpreter
            self._close_sockets()
            yield self
            return
        try:
            yield self
        finally:
            signal.set_wakeup_fd(self._previous)
            self.poll()
            self._close_sockets()

    def poll(self) -> bool:
        """Whether a SIGINT arrived (also passes the bytes on to a previous wakeup fd,
        e.g. an asyncio event loop's)."""
        if self._reader is None:
            return self.requested
        try:
            data = self._reader.recv(512)
        except (BlockingIOError, OSError):
            data = b""
        if data:
            if signal.SIGINT in data:
                self.requested = True
            if self._previous != -1:
                with contextlib.suppress(OSError):
                    os.write(self._previous, data)
        return self.requested

    def _close_sockets(self) -> None:
        for s in (self._reader, self._writer):
            if s is not None:
                s.close()
        self._reader = self._writer = None


class Control:
    """The host side of the control crossing: stop if Ctrl-C was pressed, else tell
    the program when to ask again."""

    def __init__(self, watch: InterruptWatch):
        self.watch = watch
        self.pace = host.Pace(CHECKS_PER_SECOND)
        self.pace(0, time.perf_counter(), restart=True)

    def __call__(self, rows, index) -> int:
        if self.watch.poll():
            return _STOP
        iteration = int(rows["iteration"].max(initial=0))
        return 1 + self.pace(iteration, time.perf_counter())


def check_control(state, next_check: Int[Array, ""]):
    """After an iteration: when the host's interval passed, ask whether to go on.

    Returns:
        `(state, next_check)`: `state.stopped` set if the host said stop.
    """
    due = state.iteration >= next_check
    reply = host.send(CONTROL_CHANNEL, {"iteration": state.iteration}, due=due)
    stop = due & (reply == _STOP)
    wait = jnp.maximum(reply - 1, 1)
    next_check = jnp.where(due, state.iteration + wait, next_check)
    return dataclasses.replace(state, stopped=state.stopped | stop), next_check
