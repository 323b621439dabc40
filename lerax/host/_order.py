"""Crossings in program order, for programs that span several processes.

A crossing of a program whose arrays are sharded over several `jax.distributed`
processes is also a set of collectives: its payload is gathered to device 0 (the
host call runs there, on process 0), its gate's "any row due" is reduced over the
members, and the host's reply is broadcast back. Every process must issue those
collectives in the same order, or they pair up wrongly: gloo aborts with "Received
data size doesn't match expected size", or two collectives of equal shape silently
swap their data.

XLA:CPU does not guarantee that order by itself: it runs a crossing's gated
collectives (nested in the gate's `cond`) concurrently with any other collective
the crossing does not depend on, e.g. another callback's crossing (measured: the
logger's end-of-training flush and `SaveCheckpoints`' final checkpoint started in
opposite orders on the two processes about one run in ten, see
`tests/multidevice/test_multihost.py`).

So, while the driver traces a program that spans several processes
(`crossing_order`), each crossing, and each callback of a `CallbackList`, is made to
depend on the one before it at the same trace level (`after_previous`, an
`optimization_barrier`; `mark` records what the next one waits for). Within one
process the order does not matter (in-process collectives meet by operation, not
by arrival), and nothing is added.
"""

from __future__ import annotations

import contextlib
from typing import Any

import equinox as eqx
import jax
from jax._src import core as jax_core
from jaxtyping import PyTree

_chains: list[dict[int, tuple[Any, PyTree]] | None] = []


@contextlib.contextmanager
def crossing_order(enabled: bool | None = None):
    """While tracing a training program, order its crossings (see module docstring).

    Args:
        enabled: Whether to order them; by default when the program spans several
            processes (`jax.process_count() > 1`).
    """
    if enabled is None:
        enabled = _spans_processes()
    _chains.append({} if enabled else None)
    try:
        yield
    finally:
        _chains.pop()


def _spans_processes() -> bool:
    return jax.process_count() > 1


def _level() -> tuple[dict[int, tuple[Any, PyTree]], Any, PyTree | None] | None:
    """`(chain, trace, recorded)` for the trace level being traced (`recorded`: what
    its last `mark` recorded, or None), or None when crossings are not ordered."""
    chain = _chains[-1] if _chains else None
    if chain is None:
        return None
    trace = jax_core.trace_ctx.trace
    entry = chain.get(id(trace))
    return chain, trace, entry[1] if entry is not None and entry[0] is trace else None


def after_previous(tree: PyTree) -> PyTree:
    """`tree`, made to depend on what the last `mark` at this trace level recorded.

    The identity outside an ordering `crossing_order`, at a trace level with no mark
    yet (the first crossing inside a `cond` branch, say: the branch as a whole is
    ordered by its enclosing level), and for a tree with no arrays.
    """
    level = _level()
    if level is None or level[2] is None:
        return tree
    arrays, static = eqx.partition(tree, eqx.is_array)
    if not jax.tree.leaves(arrays):
        return tree
    arrays, _ = jax.lax.optimization_barrier((arrays, level[2]))
    return eqx.combine(arrays, static)


def mark(tree: PyTree) -> None:
    """Record `tree` (its arrays) as what the next crossing at this trace level waits
    for. Nothing outside an ordering `crossing_order`."""
    level = _level()
    arrays = [x for x in jax.tree.leaves(tree) if eqx.is_array(x)]
    if level is None or not arrays:
        return
    chain, trace, recorded = level
    if recorded is not None:
        # What is recorded need not depend on what was (a callback that answers a
        # constant, say): tie it to the previous record, so the chain never breaks.
        arrays, _ = jax.lax.optimization_barrier((arrays, recorded))
    # The trace is kept with its entry, so its id is not reused while it lives.
    chain[id(trace)] = (trace, arrays)
