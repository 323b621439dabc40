"""A box in R^n."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Key

from ._abstract import AbstractSpace


def _as_bound(value: ArrayLike, shape: tuple[int, ...] | None, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if shape is None:
        return array
    if array.ndim == 0:
        return np.broadcast_to(array, shape).copy()
    if array.shape != tuple(shape):
        raise ValueError(f"Box: `{name}` has shape {array.shape}, but `shape` is {tuple(shape)}.")
    return array


class Box(AbstractSpace):
    """A (possibly unbounded) box `[low, high]` of a fixed shape.

    Args:
        low: Lower bound, a scalar (broadcast to `shape`) or an array.
        high: Upper bound, a scalar (broadcast to `shape`) or an array.
        shape: The shape of an element. Inferred from `low`/`high` when omitted.
        dtype: A floating or integer dtype (default float32).

    Raises:
        ValueError: if `low` and `high` have different shapes, do not match
            `shape`, or `low > high` anywhere.
    """

    low: Array
    high: Array
    _shape: tuple[int, ...] = eqx.field(static=True)
    _dtype: np.dtype = eqx.field(static=True)

    def __init__(
        self,
        low: ArrayLike,
        high: ArrayLike,
        shape: tuple[int, ...] | None = None,
        dtype: type | np.dtype = np.float32,
    ):
        if shape is not None:
            shape = tuple(int(s) for s in shape)
            if any(s < 0 for s in shape):
                raise ValueError(f"Box: `shape` must be non-negative, got {shape}.")
        low_np = _as_bound(low, shape, "low")
        high_np = _as_bound(high, shape, "high")
        if shape is None:
            if low_np.shape != high_np.shape:
                if low_np.ndim == 0:
                    low_np = np.broadcast_to(low_np, high_np.shape).copy()
                elif high_np.ndim == 0:
                    high_np = np.broadcast_to(high_np, low_np.shape).copy()
                else:
                    raise ValueError(
                        f"Box: `low` has shape {low_np.shape} but `high` has shape "
                        f"{high_np.shape}; they must match (or pass `shape`)."
                    )
            shape = low_np.shape
        if np.any(low_np > high_np):
            raise ValueError("Box: `low` must be <= `high` element-wise.")
        dtype = np.dtype(dtype)
        if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
            raise ValueError(f"Box: `dtype` must be a floating or integer dtype, got {dtype}.")
        self.low = jnp.asarray(low_np, dtype=dtype)
        self.high = jnp.asarray(high_np, dtype=dtype)
        self._shape = tuple(shape)
        self._dtype = dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def sample(self, *, key: Key[Array, ""]) -> Array:
        """Uniform on bounded dimensions, normal on unbounded, exponential on half-bounded."""
        if np.issubdtype(self._dtype, np.integer):
            return jr.randint(key, self._shape, self.low, self.high + 1, dtype=self._dtype)
        k_uniform, k_normal, k_exp = jr.split(key, 3)
        low = self.low.astype(jnp.float32)
        high = self.high.astype(jnp.float32)
        low_finite, high_finite = jnp.isfinite(low), jnp.isfinite(high)
        uniform = jr.uniform(
            k_uniform,
            self._shape,
            minval=jnp.where(low_finite, low, 0.0),
            maxval=jnp.where(high_finite, high, 1.0),
        )
        normal = jr.normal(k_normal, self._shape)
        exponential = jr.exponential(k_exp, self._shape)
        sample = jnp.where(
            low_finite & high_finite,
            uniform,
            jnp.where(
                low_finite, low + exponential, jnp.where(high_finite, high - exponential, normal)
            ),
        )
        return sample.astype(self._dtype)

    def contains(self, x: Array) -> Bool[Array, ""]:
        x = jnp.asarray(x)
        if x.shape != self._shape:
            return jnp.asarray(False)
        return jnp.all((x >= self.low) & (x <= self.high))

    def clip(self, x: Array) -> Array:
        return jnp.clip(x, self.low, self.high)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Box)
            and self._shape == other._shape
            and self._dtype == other._dtype
            and bool(np.array_equal(np.asarray(self.low), np.asarray(other.low)))
            and bool(np.array_equal(np.asarray(self.high), np.asarray(other.high)))
        )

    def __hash__(self) -> int:
        return hash((Box, self._shape, str(self._dtype)))

    def __repr__(self) -> str:
        low, high = np.asarray(self.low), np.asarray(self.high)
        if low.size and np.all(low == low.flat[0]) and np.all(high == high.flat[0]):
            low_s, high_s = repr(low.flat[0].item()), repr(high.flat[0].item())
        else:
            low_s, high_s = np.array2string(low), np.array2string(high)
        return f"Box(low={low_s}, high={high_s}, shape={self._shape}, dtype={self._dtype})"
