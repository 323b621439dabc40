"""The host side of a training call: open its run scope, run the program, close.

`learn`, `train` and `train_population` all go through `run_in_scope`:

1. open a `lerax.host.RunScope` holding the callbacks' receivers for this call (it
   opens backends, writers and displays: everything host-side the call owns);
2. run the compiled program with the scope's token as an argument (channels are
   named by position, so a fresh callback list of the same configuration reuses
   the compiled program), with Python's switch interval lowered while crossings
   may wait for the GIL;
3. wait for every crossing (`jax.effects_barrier`);
4. close the scope in every case: normal end, exception, `KeyboardInterrupt`
   (then receivers record the run as interrupted and the exception propagates).

The program itself also ends with one crossing that closes the scope; it matters
only when the program runs after the call returned (the call was traced inside the
user's own `jax.jit`), so that the scope still closes when the program ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from lerax import host

from ._control import CONTROL_CHANNEL, Control, InterruptWatch

RUN_END_CHANNEL = "lerax.run/end"


def host_switching(crossings: bool):
    """While a program with host crossings runs, keep them from waiting behind
    host-side writer threads for the GIL (see `lerax.host.responsive_switching`)."""
    return host.responsive_switching() if crossings else contextlib.nullcontext()


@dataclasses.dataclass
class RunCall:
    """One training call's host side: its scope and its Ctrl-C watch."""

    scope: host.RunScope
    watch: InterruptWatch


def open_scope(
    algorithm, callback, env, total_timesteps: int | None, *, group_axes: int = 0
) -> RunCall:
    """Open the run scope of one training call with `callback`'s receivers (and the
    driver's own: the control crossing, see `_control.py`, and the run's end).

    Args:
        group_axes: How many outer member axes identify a group of members (a
            population sweep's configs: 1); logging callbacks that set no grouping
            of their own aggregate by it. Passed in the run description, so nested
            callbacks see it too and no callback is rewritten.

    Raises:
        Whatever a callback's `host_receivers` raises (e.g. `FileExistsError`).
    """
    watch = InterruptWatch()
    run = {
        "interrupted": lambda: watch.requested,  # Ctrl-C stopped the program (host side)
        "algorithm": type(algorithm).__name__,
        "env": env.name,
        "total_timesteps": total_timesteps,
        "num_envs": algorithm.num_envs,
        "hyperparameters": algorithm.hyperparameters(),
        "callback": callback.config(),
        "group_axes": group_axes,
    }
    receivers = callback.host_receivers(run)
    scope = host.RunScope(receivers)
    if receivers:
        scope.receivers[CONTROL_CHANNEL] = Control(watch)
        scope.receivers[RUN_END_CHANNEL] = lambda rows, index: scope.close(
            interrupted=watch.requested
        )
    return RunCall(scope, watch)


def run_in_scope(call: RunCall, program: Callable[..., Any], *args: Any) -> Any:
    """`program(*args, token, crossings)` inside the call's scope, which is closed on
    every exit. Ctrl-C while the program runs stops it after the current iteration
    (see `_control.py`); the runs are closed as interrupted and `KeyboardInterrupt`
    propagates.

    Args:
        call: The call's scope and watch (see `open_scope`).
        program: A compiled entry program taking the run token and whether the
            callbacks cross (static) as its last two arguments.
        *args: Its other arguments.

    Returns:
        What `program` returned.
    """
    scope = call.scope
    crossings = bool(scope.receivers)
    try:
        with host_switching(crossings), call.watch.watching():
            out = program(*args, scope.token_array, crossings)
            wait_for(out)
            jax.effects_barrier()
    except BaseException:
        scope.close(interrupted=True)
        raise
    if ran(out):
        scope.close(interrupted=call.watch.requested)
        if call.watch.requested:  # the handler's own KeyboardInterrupt may not come
            raise KeyboardInterrupt
    return out


def wait_for(out: Any, poll: float = 0.05) -> None:
    """Wait until the arrays of `out` are computed, in Python.

    Blocking in XLA on the main thread would hold a `KeyboardInterrupt` until the whole
    program ended. So a helper thread blocks in XLA and the main thread waits for it
    on an event, waking at least every `poll` seconds to let a Ctrl-C through (the
    program itself goes on to its end in the background: XLA cannot cancel it, and
    its later crossings are dropped). The call returns as soon as the arrays are
    ready: a loop that slept `poll` seconds between checks would return up to `poll`
    late, 0.05 s of a one-second training run.
    """
    pending = []
    for leaf in jax.tree.leaves(out):
        while isinstance(leaf, jax.core.Tracer):  # a vmap tracer wraps the values
            leaf = getattr(leaf, "val", None)
        is_ready = getattr(leaf, "is_ready", None)
        if callable(is_ready) and not is_ready():  # key arrays, abstract values: none
            pending.append(leaf)
    if not pending:
        return
    ready = threading.Event()

    def block() -> None:
        try:
            with contextlib.suppress(Exception):  # an error stays in `out`, for its reader
                jax.block_until_ready(pending)
        finally:
            ready.set()

    helper = threading.Thread(target=block, name="lerax-wait-for-program", daemon=True)
    helper.start()
    while not ready.wait(poll):
        pass
    helper.join()


def send_run_end(state: Any) -> None:
    """The program's last crossing: close the run scope on the host (see module
    docstring).

    Crossings are unordered host calls, so this one must depend on everything that
    crossed before it: the training loop (through the iteration counter, which every
    iteration changes; a callback state the loop leaves unchanged, e.g. of a callback
    that never sends, would let XLA run this before the loop and its control
    crossings) and the final callback state (every `on_training_end` crossing
    threads its acknowledgement into it).

    Args:
        state: The final `TrainState` (possibly vmapped).
    """
    leaves = [
        x
        for x in jax.tree.leaves((state.iteration, state.callback_state))
        if isinstance(x, jax.Array)
        and x.size
        and not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
    ]
    depends = [x.reshape(-1)[:1].astype(np.float32) for x in leaves]
    payload = jax.numpy.concatenate(depends) if depends else jax.numpy.zeros((1,))
    host.send(RUN_END_CHANNEL, payload)


def ran(out: Any) -> bool:
    """Whether the program producing `out` has run (False when it was only traced
    inside an enclosing `jax.jit`, to run later)."""
    for leaf in jax.tree.leaves(out):
        if isinstance(leaf, jax.core.Tracer):
            while isinstance(leaf, jax.core.Tracer):
                leaf = getattr(leaf, "val", None)  # a vmap tracer wraps the values
            return isinstance(leaf, jax.Array)
        if isinstance(leaf, jax.Array):
            return True
    return True
