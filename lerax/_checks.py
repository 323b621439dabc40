"""Argument checks shared across lerax: one place, one wording.

Every check names its owner (the class or function being built) and the argument,
and says what is accepted. Type errors are `TypeError`, out-of-range values
`ValueError`. Values traced under the user's `jit`/`vmap` are not checked where a
check would need a concrete value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array


def check_int(owner: str, name: str, value: object, *, minimum: int = 1) -> int:
    """Check that `value` is an int (not a bool) `>= minimum`.

    Returns:
        `value` as a Python int.

    Raises:
        TypeError: if it is not an int.
        ValueError: if it is below `minimum`.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: `{name}` must be an int >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{owner}: `{name}` must be an int >= {minimum}, got {value}.")
    return int(value)


def check_bool(owner: str, name: str, value: object) -> bool:
    """Check that `value` is True or False.

    Raises:
        TypeError: for anything else.
    """
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: `{name}` must be True or False, got {value!r}.")
    return value


def check_range(
    owner: str, name: str, value: object, *, low: float, high: float, low_open: bool = False
) -> None:
    """Check `low (<|<=) value <= high` (finite); traced values are not checked.

    Raises:
        TypeError: if the value is not a number.
        ValueError: if the value is out of range or not finite.
    """
    if isinstance(value, jax.core.Tracer):
        return
    if not isinstance(value, jax.Array | np.ndarray | np.generic | int | float) or isinstance(
        value, bool
    ):
        raise TypeError(f"{owner}: `{name}` must be a number, got {value!r}.")
    v = float(np.asarray(value))
    ok = (v > low if low_open else v >= low) and v <= high
    if not ok or not np.isfinite(v):
        bracket = "(" if low_open else "["
        raise ValueError(f"{owner}: `{name}` must be in {bracket}{low}, {high}], got {v}.")


def as_hyperparameter(value: object) -> Array:
    """A float32 scalar array: sweepable with `jax.vmap`, traced by `jit`.

    A value that is no number (`"fast"`, `None`) is kept as it is: the converter does
    not know the field's name, so the algorithm's `check_range` of that field raises
    the error that names it.
    """
    try:
        return jnp.asarray(value, dtype=jnp.float32)
    except (TypeError, ValueError):
        return value


def as_scalar_array(owner: str, name: str, value: object, *, integer: bool = False) -> Array:
    """Check and convert a sweepable scalar argument (a number or a scalar array).

    Concrete values are checked (not NaN; `>= 1` for integers); traced ones (built
    under the user's `vmap`) are taken as they are.

    Raises:
        TypeError: if `value` is not a real scalar (an integer one when `integer`).
        ValueError: if it is NaN, or an integer below 1.
    """
    kind = "an int >= 1 or an integer scalar array" if integer else "a real number or scalar array"
    bad = TypeError(f"{owner}: `{name}` must be {kind}, got {value!r}.")
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes)):
        raise bad
    try:
        array = jnp.asarray(value)
    except (TypeError, ValueError):
        raise bad from None
    ok = jnp.issubdtype(array.dtype, jnp.integer) or (
        not integer and jnp.issubdtype(array.dtype, jnp.floating)
    )
    if array.shape != () or not ok:
        raise bad
    if not isinstance(array, jax.core.Tracer):
        if not integer and bool(jnp.isnan(array)):
            raise ValueError(f"{owner}: `{name}` must not be NaN.")
        if integer and int(array) < 1:
            raise ValueError(f"{owner}: `{name}` must be {kind}, got {int(array)}.")
    return array.astype(jnp.int32 if integer else jnp.float32)
