"""Helpers shared by the classic-control environments."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from lerax.space import Box


def as_float32(value: ArrayLike) -> Float[Array, "..."]:
    """Convert a physical parameter to a `float32` array."""
    return jnp.asarray(value, dtype=jnp.float32)


def parameter(default: float):
    """A traced `float32` field: changing it does not recompile a jitted program."""
    return eqx.field(default=default, converter=as_float32)


def check_episode_limit(name: str, max_episode_steps: int) -> None:
    """Raise unless `max_episode_steps` is a positive Python int."""
    if (
        isinstance(max_episode_steps, bool)
        or not isinstance(max_episode_steps, (int, np.integer))
        or max_episode_steps <= 0
    ):
        raise ValueError(
            f"{name}: `max_episode_steps` must be a positive int, got {max_episode_steps!r}."
        )


def make_box(low: Float[ArrayLike, " n"], high: Float[ArrayLike, " n"]) -> Box:
    """A float32 `Box` whose bounds may be traced (usable inside `jit`).

    `Box.__init__` needs concrete bounds, so the box is built on placeholder
    bounds of the right shape and the real (possibly traced) ones are swapped in.
    """
    low = jnp.asarray(low, jnp.float32)
    high = jnp.asarray(high, jnp.float32)
    template = Box(np.zeros(low.shape, np.float32), np.zeros(high.shape, np.float32))
    return eqx.tree_at(lambda box: (box.low, box.high), template, (low, high))
