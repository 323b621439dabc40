"""The crossing that comes back: ask the host for values (`query`).

`send` only carries data out of the program. An environment that lives on the host
(a Gymnasium env) must also bring data back in: observations, rewards, done flags.
`query` is that round trip, built the same way as `send`:

* an unordered host call (`python_call`, as `send`) wrapped in
  `jax.custom_batching.custom_vmap`: under `vmap` (nested to any depth) the
  batching rule folds the mapped axis into a leading ROW axis, tags each row with
  its member index tuple, makes ONE host call for the whole batch, and unfolds the
  reply;
* under the driver's `member_scope`, the payload also carries the member witness,
  so a query made by every member of a population is always batched per member,
  even when its payload happens to be identical for all of them;
* the payload crosses packed into one byte buffer (`_packing.pack`) and the reply
  comes back packed the same way: one operand and one result, whatever the pytree;
* ordering comes from data: the caller passes something from the previous reply
  (a ticket) in the next payload, so queries run in program order. Unordered
  effects need no token threading and keep working on sharded programs.

Unlike `send`, a responder's failure is NOT isolated: the program cannot go on
without the reply, so the exception propagates and the computation fails loudly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jaxtyping import Array, PyTree

from ._crossing import _member_stack
from ._order import after_previous, mark
from ._packing import _ALIGN, Layout, LeafLayout, pack, unpack
from ._python_call import python_call

Responder = Callable[[Any, np.ndarray], Any]

_lock = threading.Lock()
_responders: dict[str, Responder] = {}


class QueryDepthError(ValueError):
    """A `query` was traced under more nested `vmap`s than its `max_depth` allows."""


def respond(channel: str, responder: Responder) -> None:
    """Register (or replace) the host-side responder of `channel`.

    A responder is a plain Python callable `responder(rows, index) -> reply` where
    `rows` is the payload pytree of numpy arrays with a leading row axis (one row per
    vmapped member), `index` is an int32 array `(rows, depth)` holding each row's
    member index tuple (depth 0 outside `vmap`), and `reply` is a pytree of arrays
    matching `result_shape` with the same leading row axis.
    """
    with _lock:
        _responders[channel] = responder


def unrespond(channel: str) -> None:
    """Remove the responder of `channel`; later queries to it fail."""
    with _lock:
        _responders.pop(channel, None)


def has_responder(channel: str) -> bool:
    """Whether `channel` currently has a responder."""
    return channel in _responders


def query(
    channel: str,
    payload: PyTree[Array],
    result_shape: PyTree[jax.ShapeDtypeStruct],
    *,
    max_depth: int | None = None,
    depth_message: str | None = None,
) -> PyTree[Array]:
    """Ask the host responder of `channel` for a reply to `payload`.

    Args:
        channel: Name of a responder registered with `respond` (static).
        payload: A pytree of arrays describing ONE caller (no member axis). Put
            something from the previous reply in it to keep queries in order.
        result_shape: Pytree of `jax.ShapeDtypeStruct` describing ONE reply.
        max_depth: If given, the largest number of nested `vmap`s allowed around the
            query; more raises `QueryDepthError` while tracing.

    Returns:
        The reply, shaped like `result_shape` (batched like the caller under `vmap`).

    Raises:
        ValueError: if no responder is registered for `channel` when tracing.
        QueryDepthError: if traced under more than `max_depth` nested `vmap`s.
    """
    if not has_responder(channel):
        raise ValueError(f"lerax.host.query: no responder is registered for {channel!r}.")
    payload = jax.tree.map(jnp.asarray, payload)
    # Under the driver, carry the member witness so every member asks on its own row.
    witness = _member_stack[-1] if _member_stack else jnp.asarray(False)
    rows = jax.tree.map(lambda x: x[None], (payload, witness))
    index = jnp.zeros((1, 0), dtype=jnp.int32)
    rows, index = after_previous((rows, index))
    reply = _query_rows(channel, result_shape, (max_depth, depth_message), rows, index)
    mark(reply)
    return jax.tree.map(lambda x: x[0], reply)


def _query_rows(channel, result_shape, depth_limit, rows, index):
    @custom_vmap
    def crossing(rows, index):
        return _host_query(channel, result_shape, depth_limit, rows, index)

    @crossing.def_vmap
    def _fold_member_axis(axis_size, in_batched, rows, index):
        rows_b, index_b = in_batched
        num_rows = index.shape[1] if index_b else index.shape[0]

        def fold(x, batched):
            x = x if batched else jnp.broadcast_to(x, (axis_size,) + x.shape)
            return x.reshape((axis_size * x.shape[1],) + x.shape[2:])

        rows = jax.tree.map(fold, rows, rows_b)
        index = index if index_b else jnp.broadcast_to(index, (axis_size,) + index.shape)
        member = jnp.broadcast_to(
            jnp.arange(axis_size, dtype=jnp.int32)[:, None, None], index.shape[:2] + (1,)
        )
        index = jnp.concatenate([member, index], axis=-1).reshape((-1, index.shape[-1] + 1))
        reply = _query_rows(channel, result_shape, depth_limit, rows, index)
        reply = jax.tree.map(lambda x: x.reshape((axis_size, num_rows) + x.shape[1:]), reply)
        return reply, jax.tree.map(lambda _: True, reply)

    return crossing(rows, index)


def _host_query(channel, result_shape, depth_limit, rows, index):
    num_rows, depth = index.shape
    max_depth, depth_message = depth_limit
    if max_depth is not None and depth > max_depth:
        raise QueryDepthError(
            depth_message
            or f"lerax.host.query: channel {channel!r} allows at most {max_depth} nested "
            f"vmap(s), but it was traced under {depth}."
        )
    row_shape = jax.tree.map(
        lambda s: jax.ShapeDtypeStruct((num_rows,) + tuple(s.shape), s.dtype), result_shape
    )
    buffer, layout = pack((rows, index))
    reply_layout = _reply_layout(row_shape)
    reply = python_call(
        _answer(channel, layout, reply_layout),
        jax.ShapeDtypeStruct((reply_layout.nbytes,), jnp.uint8),
        buffer,
    )
    return _unpack_on_device(reply, reply_layout)


def _answer(channel: str, layout: Layout, reply_layout: Layout):
    def answer(buffer) -> np.ndarray:
        with _lock:
            responder = _responders.get(channel)
        if responder is None:
            raise RuntimeError(f"lerax.host.query: no responder is registered for {channel!r}.")
        (payload, _), index = unpack(buffer, layout)  # drop the member witness
        reply = responder(payload, index)
        return _pack_on_host(reply, reply_layout)

    return answer


def _reply_layout(row_shape: PyTree[jax.ShapeDtypeStruct]) -> Layout:
    leaves, treedef = jax.tree.flatten(row_shape)
    layout, offset = [], 0
    for leaf in leaves:
        dtype = np.dtype(leaf.dtype)
        size = int(np.prod(leaf.shape, dtype=np.int64)) * dtype.itemsize
        layout.append(LeafLayout(offset, tuple(leaf.shape), dtype))
        offset += size + (-size % _ALIGN)
    return Layout(treedef, tuple(layout), offset)


def _pack_on_host(reply: PyTree, layout: Layout) -> np.ndarray:
    """The responder's reply as one uint8 buffer laid out as `layout` says."""
    leaves = layout.treedef.flatten_up_to(reply)
    buffer = np.zeros((layout.nbytes,), np.uint8)
    for leaf, where in zip(leaves, layout.leaves, strict=True):
        array = np.ascontiguousarray(np.asarray(leaf, dtype=where.dtype).reshape(where.shape))
        raw = array.reshape(-1).view(np.uint8)
        buffer[where.offset : where.offset + raw.size] = raw
    return buffer


def _unpack_on_device(buffer: Array, layout: Layout) -> PyTree[Array]:
    leaves = []
    for where in layout.leaves:
        size = int(np.prod(where.shape, dtype=np.int64)) * where.dtype.itemsize
        chunk = buffer[where.offset : where.offset + size]
        if where.dtype == np.bool_:
            leaves.append((chunk != 0).reshape(where.shape))
        elif where.dtype.itemsize == 1:
            leaves.append(jax.lax.bitcast_convert_type(chunk, where.dtype).reshape(where.shape))
        else:
            chunk = chunk.reshape(where.shape + (where.dtype.itemsize,))
            leaves.append(jax.lax.bitcast_convert_type(chunk, where.dtype))
    return jax.tree.unflatten(layout.treedef, leaves)
