"""A finite set of integers."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Int, Key

from ._abstract import AbstractSpace


class Discrete(AbstractSpace):
    """The integers `{0, 1, ..., n - 1}`.

    Args:
        n: Number of elements; a positive integer.

    Raises:
        ValueError: if `n` is not a positive integer.
    """

    n: int = eqx.field(static=True)

    def __init__(self, n: int):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"Discrete: `n` must be a positive integer, got {n!r}.")
        self.n = int(n)

    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.int32)

    def sample(self, *, key: Key[Array, ""]) -> Int[Array, ""]:
        return jr.randint(key, (), 0, self.n, dtype=jnp.int32)

    def contains(self, x: Array) -> Bool[Array, ""]:
        x = jnp.asarray(x)
        if x.shape != () or not jnp.issubdtype(x.dtype, jnp.integer):
            return jnp.asarray(False)
        return (x >= 0) & (x < self.n)

    def clip(self, x: Array) -> Int[Array, ""]:
        return jnp.clip(x, 0, self.n - 1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Discrete) and self.n == other.n

    def __hash__(self) -> int:
        return hash((Discrete, self.n))

    def __repr__(self) -> str:
        return f"Discrete({self.n})"
