"""Reading checkpoints: `load` (no template needed) and `read_metadata`."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._format import (
    ARRAYS_FILE,
    METADATA_KEY,
    STRUCTURE_KEY,
    BufferNotSaved,
    LeafSpec,
    is_spec,
    leaf_key,
    load_structure,
)


def load(path: str | os.PathLike, *, like: Any = None) -> Any:
    """Load a checkpoint written by `save` or `SaveCheckpoints`.

    No template is needed: the structure is stored with the arrays. Arrays come back
    as JAX arrays with their dtype and weak type, typed PRNG keys as typed keys, so
    `algo.train(load(path), callback=...)` continues the run exactly.

    Pickling makes loading run code named in the file: load only checkpoints you trust.

    Args:
        path: A checkpoint directory.
        like: Optional template (e.g. `algo.init(...)`, or `jax.eval_shape` of it). The
            loaded state must have the same structure, static configuration, shapes
            and dtypes, else `ValueError`. If the checkpoint left a replay buffer out
            (`BufferNotSaved`), the template's buffer is put in its place.

    Returns:
        The saved object, typically a `lerax.algorithm.TrainState`.

    Raises:
        FileNotFoundError: if `path` holds no checkpoint.
        ValueError: if `like` is given and does not match.
    """
    with _open(path) as npz:
        skeleton = load_structure(npz[STRUCTURE_KEY].tobytes())

        def restore(x: Any) -> Any:
            return _restore_leaf(npz[leaf_key(x.index)], x) if is_spec(x) else x

        tree = jax.tree.map(restore, skeleton, is_leaf=is_spec)
    if like is not None:
        tree = _fill_buffers(tree, like)
        check_like(tree, like)
    return tree


def _fill_buffers(tree: Any, like: Any) -> Any:
    """`tree` with every `BufferNotSaved` replaced by what `like` holds there (left as
    it is where the structures differ: `check_like` then says how)."""
    marker = lambda x: isinstance(x, BufferNotSaved)  # noqa: E731
    if not any(marker(x) for x in jax.tree.leaves(tree, is_leaf=marker)):
        return tree
    try:
        return jax.tree.map(lambda t, x: x if marker(t) else t, tree, like, is_leaf=marker)
    except (ValueError, TypeError):
        return tree


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata recorded with a checkpoint: format version, counters (iteration,
    timesteps, episodes), save time and every leaf's path, shape and dtype.

    Raises:
        FileNotFoundError: if `path` holds no checkpoint.
    """
    with _open(path) as npz:
        return json.loads(npz[METADATA_KEY].tobytes())


def _open(path: str | os.PathLike):
    file = Path(path) / ARRAYS_FILE
    if not file.is_file():
        raise FileNotFoundError(
            f"lerax.checkpoint: no checkpoint at '{path}' (missing '{ARRAYS_FILE}')."
        )
    return np.load(file, allow_pickle=False)


def _restore_leaf(stored: np.ndarray, spec: LeafSpec) -> jax.Array | np.ndarray:
    dtype = jnp.dtype(spec.dtype)
    if stored.dtype != dtype:  # stored as raw bytes (bfloat16, float8, ...)
        stored = np.frombuffer(stored.tobytes(), dtype).reshape(spec.shape)
    if spec.numpy:
        return np.array(stored)
    if spec.key_impl is not None:
        return jax.random.wrap_key_data(jnp.asarray(stored), impl=spec.key_impl)
    if spec.weak_type:
        return _weakly_typed(stored)
    return jnp.asarray(stored)


def _weakly_typed(value: np.ndarray) -> jax.Array:
    """`value` as a weakly typed array (as Python scalars make), when JAX's weak type
    for its kind is this dtype; a strongly typed array otherwise."""
    kinds = {"i": 0, "u": 0, "f": 0.0, "c": 0j}
    if value.dtype.kind not in kinds:
        return jnp.asarray(value)
    zero = jnp.asarray(kinds[value.dtype.kind])
    if zero.dtype != value.dtype:
        return jnp.asarray(value)
    return jnp.broadcast_to(zero, value.shape).at[...].set(value)


def check_like(tree: Any, like: Any, *, owner: str = "lerax.checkpoint.load") -> None:
    """Raise `ValueError` naming the first difference between `tree` and `like`
    (structure, array shapes and dtypes, static configuration); messages start with
    `owner`."""
    got, got_def = jax.tree_util.tree_flatten_with_path(tree)
    want, want_def = jax.tree_util.tree_flatten_with_path(like)
    got_paths = [jax.tree_util.keystr(p) for p, _ in got]
    want_paths = [jax.tree_util.keystr(p) for p, _ in want]
    if got_paths != want_paths:
        missing = [p for p in want_paths if p not in set(got_paths)]
        extra = [p for p in got_paths if p not in set(want_paths)]
        raise ValueError(
            f"{owner}: the checkpoint does not match `like`: "
            f"in `like` but not in the checkpoint: {missing[:5]}; in the checkpoint "
            f"but not in `like`: {extra[:5]}."
        )
    for path, (_, a), (_, b) in zip(got_paths, got, want, strict=True):
        if not hasattr(b, "shape") or not hasattr(b, "dtype"):
            continue
        a_desc = (tuple(np.shape(a)), str(a.dtype))
        b_desc = (tuple(b.shape), str(b.dtype))
        if a_desc != b_desc:
            raise ValueError(
                f"{owner}: leaf `{path}` is {a_desc[1]}{list(a_desc[0])} in "
                f"the checkpoint but {b_desc[1]}{list(b_desc[0])} in `like`."
            )
    if got_def != want_def:
        raise ValueError(
            f"{owner}: the checkpoint does not match `like`: same arrays "
            f"but a different static configuration at `{_static_difference(tree, like, '')}` "
            "(a static field such as an activation, a flag or an env setting)."
        )


def _static_difference(a: Any, b: Any, path: str) -> str:
    """The deepest path at which the static parts of `a` and `b` differ."""
    if type(a) is not type(b):
        return f"{path} ({type(a).__name__} vs {type(b).__name__})"
    if dataclasses.is_dataclass(a):
        children = [
            (f".{f.name}", getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        ]
    elif isinstance(a, (list, tuple)) and len(a) == len(b):
        children = [(f"[{i}]", x, y) for i, (x, y) in enumerate(zip(a, b, strict=True))]
    elif isinstance(a, dict) and a.keys() == b.keys():
        children = [(f"[{k!r}]", a[k], b[k]) for k in a]
    else:
        return path
    for name, x, y in children:
        if jax.tree.structure(x) != jax.tree.structure(y):
            return _static_difference(x, y, path + name)
    for name, x, y in children:
        if not _has_arrays(x) and not _has_arrays(y) and _differ(x, y):
            return path + name
    return path


def _has_arrays(x: Any) -> bool:
    return any(eqx.is_array(leaf) for leaf in jax.tree.leaves(x))


def _differ(x: Any, y: Any) -> bool:
    try:
        return bool(x != y)
    except (TypeError, ValueError):
        return x is not y
