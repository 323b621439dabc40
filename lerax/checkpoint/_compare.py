"""The first difference between two pytrees, for clear mismatch errors."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def first_difference(got: Any, want: Any, path: str = "") -> tuple[str, str, str] | None:
    """Where `got` and `want` first differ, as `(path, got, want)` descriptions.

    Compares classes, container lengths and keys, array shapes and dtypes (not
    values) and static values, depth first. Fields whose name starts with
    `callback` are compared last, so a difference in the policy, optimizer or env
    is named before one in the callbacks' states. Array leaves may be arrays,
    tracers or `jax.ShapeDtypeStruct`s.

    Returns:
        None if they match.
    """
    if _is_array(got) or _is_array(want):
        a, b = describe(got), describe(want)
        return None if a == b else (path or ".", a, b)
    if type(got) is not type(want):
        return path or ".", describe(got), describe(want)
    if dataclasses.is_dataclass(got) and not isinstance(got, type):
        names = [f.name for f in dataclasses.fields(got)]
        names.sort(key=lambda n: n.startswith("callback"))
        children = [(f".{n}", getattr(got, n), getattr(want, n)) for n in names]
    elif isinstance(got, tuple) and hasattr(type(got), "_fields"):
        children = [(f".{n}", getattr(got, n), getattr(want, n)) for n in type(got)._fields]
    elif isinstance(got, (tuple, list)):
        if len(got) != len(want):
            return path or ".", describe(got), describe(want)
        children = [(f"[{i}]", a, b) for i, (a, b) in enumerate(zip(got, want, strict=True))]
    elif isinstance(got, dict):
        if list(got) != list(want):
            return path or ".", f"keys {list(got)}", f"keys {list(want)}"
        children = [(f"[{k!r}]", got[k], want[k]) for k in got]
    else:
        return (path or ".", describe(got), describe(want)) if _differ(got, want) else None
    for name, a, b in children:
        found = first_difference(a, b, path + name)
        if found is not None:
            return found
    return None


def describe(x: Any) -> str:
    """A short description: `float32[4, 64]`, `key<fry>[]`, a class name, a value."""
    if _is_array(x):
        dtype = x.dtype
        if jnp.issubdtype(dtype, jax.dtypes.prng_key):
            return f"{dtype}{list(x.shape)}"
        return f"{np.dtype(dtype).name}{list(x.shape)}"
    if isinstance(x, (tuple, list)) and not hasattr(type(x), "_fields"):
        kinds = ", ".join(type(v).__name__ for v in x[:6]) + (", ..." if len(x) > 6 else "")
        return f"{len(x)} item{'s' if len(x) != 1 else ''} ({kinds})"
    if dataclasses.is_dataclass(x) or (isinstance(x, tuple) and hasattr(type(x), "_fields")):
        return type(x).__name__
    text = getattr(x, "__name__", None) if callable(x) else None
    text = text or repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, jax.ShapeDtypeStruct))


def _differ(x: Any, y: Any) -> bool:
    try:
        return bool(x != y)
    except (TypeError, ValueError):
        return x is not y
