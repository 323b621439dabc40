"""Turning another library's spaces into lerax spaces."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from lerax.space import Box, Discrete


def box_space(
    low: ArrayLike, high: ArrayLike, shape: tuple[int, ...], dtype: Any = np.float32
) -> Box:
    """A `Box` whose bounds may be traced (so it can be built inside `jit`).

    Boolean and other non-numeric element types become float32. Scalar bounds are
    broadcast to `shape`.
    """
    dtype = np.dtype(dtype)
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        dtype = np.dtype(np.float32)
    shape = tuple(int(s) for s in shape)
    low = jnp.broadcast_to(jnp.asarray(low, dtype=dtype), shape)
    high = jnp.broadcast_to(jnp.asarray(high, dtype=dtype), shape)
    template = Box(np.zeros(shape, dtype), np.zeros(shape, dtype), dtype=dtype)
    return eqx.tree_at(lambda box: (box.low, box.high), template, (low, high))


def discrete_space(n: Any, owner: str) -> Discrete:
    """A `Discrete(n)` from a concrete number of elements."""
    if isinstance(n, jax.core.Tracer):
        raise TypeError(f"{owner}: the number of discrete actions must be concrete, got a tracer.")
    return Discrete(int(np.asarray(n)))


def cast_observation(observation: Array, space: Box | Discrete) -> Array:
    """Give an observation the dtype of its lerax space (e.g. bool planes -> float32)."""
    return jnp.asarray(observation).astype(space.dtype)
