"""The ONE place where the compiled program crosses to the host.

Everything that leaves the device (log events, progress, checkpoints, video frames)
goes through `send`. Design, from the measurements in ARCHITECTURE.md:

* A crossing is an unordered host call (`_python_call.python_call`: io_callback's
  lowering without its per-operand `device_put`) wrapped in
  `jax.custom_batching.custom_vmap`.
  Under the user's `jax.vmap` (nested to any depth) the batching rule folds the
  mapped axis into a leading ROW axis and tags each row with its member index tuple,
  so one event of a whole population crosses in ONE host call.
* The gate (`due`) is evaluated inside the unbatched base implementation as a
  `lax.cond` on "any row due": no vmapped `cond` ever holds the io effect, and no
  payload crosses when nothing is due.
* The payload, member index and due flags cross packed into ONE byte buffer
  (`_packing.py`), packed before the gate so the `cond` takes one operand (XLA:CPU
  copies each leaf of a tuple operand with its own small kernel) and the host gets
  one array instead of thirty.
* The host side receives numpy arrays with a leading row axis, the `(rows, depth)`
  member index, never calls JAX, and never raises into XLA: a failing receiver is
  reported once and disabled (see `_registry.py`). The arrays are the receiver's to
  keep (views into one host copy of the crossed bytes), e.g. for a background writer.
* Each crossing returns an int32 acknowledgement that callers thread into their
  carried state, so crossings run in program order. It is the receiver's int reply
  (0 by default): the host can pace the program, e.g. tell a progress bar how many
  iterations to skip before its next update.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Bool, Int, PyTree

from ._order import after_previous, mark
from ._packing import Layout, pack, unpack
from ._python_call import python_call
from ._registry import deliver
from ._scope import current_token, scoped_channel

_active_stack: list[Bool[Array, ""]] = []
_member_stack: list[Bool[Array, ""]] = []


def member_witness(*trees: PyTree) -> Bool[Array, ""]:
    """A scalar that is always False but depends on one element of every array leaf.

    Under `vmap` it is batched as soon as ANY leaf is batched. `send` folds it into
    `due`, so an event whose payload happens to be identical for all members (the
    start of training, say) still crosses as one row per member, tagged with the
    member's index.
    """
    witness = jnp.asarray(False)
    for leaf in jax.tree.leaves(trees):
        if not isinstance(leaf, jax.Array) or leaf.size == 0:
            continue
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        first = leaf.ravel()[0]
        witness = witness | jnp.logical_and(first != first, jnp.asarray(False))
    return witness


@contextlib.contextmanager
def member_scope(witness: Bool[Array, ""]):
    """While tracing a training program, make every `send` member-aware (see
    `member_witness`). The driver enters it once around the whole program."""
    _member_stack.append(witness)
    try:
        yield
    finally:
        _member_stack.pop()


@contextlib.contextmanager
def active_scope(active: Bool[Array, ""]):
    """Mark, while tracing, whether the enclosing run is still active.

    The training loop traces its iteration body inside this scope with the run's
    `~stopped` flag. Under `vmap` the body also runs for members that already
    stopped (their results are discarded); `send` ANDs its `due` with the innermost
    active flag so a stopped member never emits again.
    """
    active = jnp.asarray(active, dtype=bool)
    if _active_stack:  # nested scopes (a wrapper inside the loop body) AND together
        active = active & _active_stack[-1]
    _active_stack.append(active)
    try:
        yield
    finally:
        _active_stack.pop()


def send(
    channel: str,
    payload: PyTree[Array],
    *,
    due: Bool[Array, ""] | bool = True,
    compute: Callable[[PyTree[Array]], PyTree[Array]] | None = None,
) -> Int[Array, ""]:
    """Send `payload` to the host receiver registered under `channel`.

    Args:
        channel: Name of the receiver (static). Inside a training call it is prefixed
            with the callback's position (see `lerax.host.channel_scope`) and routed
            to the receivers of the running call by the program's run token.
        payload: A pytree of arrays describing ONE run (no member axis).
        due: Whether this event is due for this run. Rows not due are dropped on the
            host; when no row is due, nothing crosses at all.
        compute: Optional function of ONE run's `payload` producing what actually
            crosses (e.g. rendering frames from a policy). It runs on the device,
            vmapped over the rows, and ONLY when some row is due: expensive payloads
            cost nothing on the iterations where nothing is sent.

    Returns:
        An int32 acknowledgement (unbatched; the same for every vmapped member): the
        receiver's int reply, 0 when it returned none or nothing crossed. Thread it
        into state to keep crossings in order.
    """
    payload = jax.tree.map(jnp.asarray, payload)
    rows = jax.tree.map(lambda x: x[None], payload)
    index = jnp.zeros((1, 0), dtype=jnp.int32)
    due = jnp.asarray(due, dtype=bool)
    if _active_stack:
        due = due & _active_stack[-1]
    if _member_stack:
        due = due & ~_member_stack[-1]
    due_rows = due.reshape((1,))
    rows, index, due_rows, token = after_previous((rows, index, due_rows, current_token()))
    ack = _send_rows(scoped_channel(channel), compute, rows, index, due_rows, token)
    mark(ack)
    return ack


def _send_rows(channel, compute, rows, index, due_rows, token):
    @custom_vmap
    def crossing(rows, index, due_rows, token):
        return _host_call(channel, compute, rows, index, due_rows, token)

    @crossing.def_vmap
    def _fold_member_axis(axis_size, in_batched, rows, index, due_rows, token):
        rows_b, index_b, due_b, token_b = in_batched
        token = token[0] if token_b else token  # one run: the same token in every row

        def fold(x, batched):
            x = x if batched else jnp.broadcast_to(x, (axis_size,) + x.shape)
            return x.reshape((axis_size * x.shape[1],) + x.shape[2:])

        rows = jax.tree.map(fold, rows, rows_b)
        due_rows = fold(due_rows, due_b)
        index = index if index_b else jnp.broadcast_to(index, (axis_size,) + index.shape)
        member = jnp.broadcast_to(
            jnp.arange(axis_size, dtype=jnp.int32)[:, None, None], index.shape[:2] + (1,)
        )
        index = jnp.concatenate([member, index], axis=-1)
        index = index.reshape((-1, index.shape[-1]))
        return _send_rows(channel, compute, rows, index, due_rows, token), False

    return crossing(rows, index, due_rows, token)


def _host_call(channel, compute, rows, index, due_rows, token):
    due = jnp.any(due_rows)
    if compute is None and _nbytes(rows) <= PACK_BEFORE_GATE_BYTES:
        # Pack before the gate: the `cond` then takes ONE buffer instead of a tuple
        # of every leaf (XLA:CPU runs each leaf of the tuple as its own small copy).
        # Only for small payloads (log events), which then pack on every iteration;
        # a large one (a checkpoint) packs only when due.
        buffer, layout = pack((rows, index, due_rows, token))
        return jax.lax.cond(due, lambda b: _call(channel, b, layout), _no_ack, buffer)

    def compute_and_call(operands):
        rows, index, due_rows, token = operands
        if compute is not None:
            rows = jax.vmap(compute)(rows)
        return _call(channel, *pack((rows, index, due_rows, token)))

    return jax.lax.cond(due, compute_and_call, _no_ack, (rows, index, due_rows, token))


def _call(channel: str, buffer: Array, layout: Layout) -> Int[Array, ""]:
    return python_call(_receive(channel, layout), _ACK, buffer)


_ACK = jax.ShapeDtypeStruct((), jnp.int32)
PACK_BEFORE_GATE_BYTES = 4096


def _nbytes(tree) -> int:
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def _no_ack(operands):
    return jnp.zeros((), jnp.int32)


def _receive(channel: str, layout: Layout):
    def receive(buffer) -> np.ndarray:
        # ONE copy of the bytes: the leaves are views into it, and receivers may keep
        # them (a background writer does) after XLA reuses the device buffer.
        buffer = np.array(buffer, dtype=np.uint8)
        rows, index, due_rows, token = unpack(buffer, layout)
        due_rows = due_rows.astype(bool, copy=False)
        if not due_rows.all():
            rows = jax.tree.map(lambda x: x[due_rows], rows)
            index = index[due_rows]
        return np.int32(deliver(int(token), channel, rows, index))

    return receive
