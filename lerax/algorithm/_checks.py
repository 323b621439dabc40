"""Argument checks shared by the algorithms (skipped for traced values)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def as_hyperparameter(value) -> jax.Array:
    """A float32 scalar array: sweepable with `jax.vmap`, traced by `jit`."""
    return jnp.asarray(value, dtype=jnp.float32)


def check_int(owner: str, name: str, value, *, minimum: int = 1) -> None:
    """Raise unless `value` is a Python int >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: `{name}` must be an int >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{owner}: `{name}` must be an int >= {minimum}, got {value}.")


def check_range(
    owner: str, name: str, value, *, low: float, high: float, low_open: bool = False
) -> None:
    """Raise unless `low (<|<=) value <= high`; traced values are not checked."""
    if isinstance(value, jax.core.Tracer):
        return
    v = float(np.asarray(value))
    ok = (v > low if low_open else v >= low) and v <= high
    if not ok or not np.isfinite(v):
        bracket = "(" if low_open else "["
        raise ValueError(f"{owner}: `{name}` must be in {bracket}{low}, {high}], got {v}.")
