"""Pack a pytree of device arrays into ONE byte buffer for the crossing, and back.

Why: `io_callback` hands every operand to the host through `jax.device_put`, which
costs ~0.1 ms per operand on the CPU. A log event carries some thirty scalars, so
crossing them one operand each cost ~2-3 ms per event; packed into a single uint8
buffer it costs one transfer. The layout (offset, shape, dtype of every leaf) is
static, known at trace time, and travels in the host-side closure, not in the buffer.

Leaves are bit-cast, so values come back bit for bit. Booleans travel as one byte,
PRNG key arrays as their raw key data (the receiver sees the uint32 data).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree, UInt8

_ALIGN = 8  # every leaf starts on an 8-byte boundary, so host views are aligned


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

    Args:
        tree: A pytree of arrays (any numeric, bool or PRNG key dtype).

    Returns:
        `(buffer, layout)`: the bytes and the static layout that `unpack` needs.
    """
    leaves, treedef = jax.tree.flatten(tree)
    parts: list[Array] = []
    layout: list[LeafLayout] = []
    offset = 0
    for leaf in leaves:
        leaf = jnp.asarray(leaf)
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        dtype = np.dtype(leaf.dtype)
        if dtype == np.bool_:
            raw = leaf.astype(jnp.uint8).reshape(-1)
        else:
            raw = jax.lax.bitcast_convert_type(leaf, jnp.uint8).reshape(-1)
        layout.append(LeafLayout(offset, tuple(leaf.shape), dtype))
        padding = -raw.size % _ALIGN
        parts.append(raw)
        if padding:
            parts.append(jnp.zeros((padding,), jnp.uint8))
        offset += raw.size + padding
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
    buffer = np.asarray(buffer, dtype=np.uint8).reshape(-1)
    if buffer.size != layout.nbytes:
        raise ValueError(
            f"packed buffer has {buffer.size} bytes, the layout expects {layout.nbytes}."
        )
    leaves = []
    for leaf in layout.leaves:
        size = math.prod(leaf.shape) * leaf.dtype.itemsize
        chunk = buffer[leaf.offset : leaf.offset + size]
        leaves.append(chunk.view(leaf.dtype).reshape(leaf.shape))
    return jax.tree.unflatten(layout.treedef, leaves)
