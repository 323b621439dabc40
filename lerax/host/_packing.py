"""Pack a pytree of device arrays into ONE byte buffer for the crossing, and back.

Why: `io_callback` hands every operand to the host through `jax.device_put`, which
cost a fixed overhead per operand on the CPU. A log event carries some thirty
scalars, so crossing them one operand each paid it thirty times per event (see
`benchmarks/README.md`); packed into a single uint8 buffer it costs one transfer.
(The crossing now skips that `device_put` altogether, see `_python_call.py`; one
operand still means one numpy view instead of thirty, and a `cond` with one operand
instead of a tuple of thirty.) The layout (offset, shape, dtype of every leaf) is
static, known at trace time, and travels in the host-side closure, not in the
buffer.

Leaves are bit-cast, so values come back bit for bit. Booleans travel as one byte,
PRNG key arrays as their raw key data (the receiver sees the uint32 data).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree, UInt8

_ALIGN = 8  # every dtype group starts on an 8-byte boundary, so host views are aligned


class LeafLayout(NamedTuple):
    """Where one leaf lives in the packed buffer."""

    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype


class Layout(NamedTuple):
    """The static description of a packed pytree."""

    treedef: jax.tree_util.PyTreeDef
    leaves: tuple[LeafLayout, ...]
    nbytes: int


def pack(tree: PyTree[Array]) -> tuple[UInt8[Array, " nbytes"], Layout]:
    """Flatten `tree` into one uint8 buffer.

    Leaves are grouped by dtype: each group is ONE concatenation of its flattened
    leaves, bit-cast to bytes once, and the groups are concatenated. On XLA:CPU every
    separately bit-cast leaf is a small kernel of its own (thirty for a log event of
    thirty scalars); grouped, the bit-casts are one per dtype. (A chain of selects that
    fuses everything into one kernel was tried and measured slower; XLA then fused the
    computations producing the scalars into that kernel.)

    Args:
        tree: A pytree of arrays (any numeric, bool or PRNG key dtype).

    Returns:
        `(buffer, layout)`: the bytes and the static layout that `unpack` needs.
    """
    leaves, treedef = jax.tree.flatten(tree)
    groups: dict[np.dtype, list[int]] = {}
    flat: list[Array] = []
    dtypes: list[np.dtype] = []  # what the host sees: bool stays bool
    for i, leaf in enumerate(leaves):
        leaf = jnp.asarray(leaf)
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        dtypes.append(np.dtype(leaf.dtype))
        if leaf.dtype == jnp.bool_:
            leaf = leaf.astype(jnp.uint8)  # one byte each
        flat.append(leaf)
        groups.setdefault(np.dtype(leaf.dtype), []).append(i)
    layout: list[LeafLayout | None] = [None] * len(leaves)
    parts: list[Array] = []
    offset = 0
    for dtype, members in groups.items():
        start = offset
        for i in members:
            layout[i] = LeafLayout(offset, tuple(flat[i].shape), dtypes[i])
            offset += flat[i].size * dtype.itemsize
        pieces = [flat[i].reshape(-1) for i in members]
        group = jnp.concatenate(pieces) if len(pieces) > 1 else pieces[0]
        if dtype != np.uint8:
            group = jax.lax.bitcast_convert_type(group, jnp.uint8)
        parts.append(group.reshape(-1))
        padding = -(offset - start) % _ALIGN
        if padding:
            parts.append(jnp.zeros((padding,), jnp.uint8))
        offset += padding
    buffer = jnp.concatenate(parts) if parts else jnp.zeros((0,), jnp.uint8)
    return buffer, Layout(treedef, tuple(layout), offset)


def unpack(buffer: np.ndarray, layout: Layout) -> PyTree[np.ndarray]:
    """The numpy pytree `pack` flattened, as views into `buffer` (host side).

    Args:
        buffer: The packed bytes (numpy or a CPU array; viewed, not copied).
        layout: The layout `pack` returned.

    Returns:
        A pytree of numpy arrays with the original shapes and dtypes (keys as data).
    """
    buffer = np.ascontiguousarray(buffer, dtype=np.uint8).reshape(-1)
    if buffer.size != layout.nbytes:
        raise ValueError(
            f"packed buffer has {buffer.size} bytes, the layout expects {layout.nbytes}."
        )
    leaves = [np.ndarray(leaf.shape, leaf.dtype, buffer, leaf.offset) for leaf in layout.leaves]
    return jax.tree.unflatten(layout.treedef, leaves)
