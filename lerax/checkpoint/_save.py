"""Writing checkpoints: `save`, and the atomic writer shared with `SaveCheckpoints`."""

from __future__ import annotations

import errno
import glob
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._format import (
    ARRAYS_FILE,
    FORMAT_VERSION,
    METADATA_FILE,
    METADATA_KEY,
    STANDARD_KINDS,
    STRUCTURE_KEY,
    LeafSpec,
    is_spec,
    leaf_key,
)
from ._structure import encode_structure


def split_state(tree: Any) -> tuple[Any, list[Any]]:
    """Split a pytree into a skeleton (array leaves replaced by `LeafSpec`s) and the
    list of array leaves, typed PRNG keys turned into their key data.

    Works on concrete arrays and on tracers (inside a compiled program, where the
    returned leaves are what crosses to the host).

    Args:
        tree: Any pytree, typically a `lerax.algorithm.TrainState`.

    Returns:
        `(skeleton, leaves)`; `skeleton`'s `LeafSpec.index` points into `leaves`.
    """
    arrays, static = eqx.partition(tree, eqx.is_array)
    flat, treedef = jax.tree.flatten(arrays)
    specs, leaves = [], []
    for index, leaf in enumerate(flat):
        key_impl = None
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            key_impl = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)
        weak = bool(getattr(leaf, "weak_type", False))
        dtype = np.dtype(leaf.dtype).name
        numpy = isinstance(leaf, np.ndarray)
        specs.append(LeafSpec(index, tuple(leaf.shape), dtype, weak, key_impl, numpy))
        leaves.append(leaf)
    skeleton = eqx.combine(jax.tree.unflatten(treedef, specs), static, is_leaf=is_spec)
    return skeleton, leaves


def describe_leaves(skeleton: Any) -> list[dict[str, Any]]:
    """`[{"path", "shape", "dtype"}]` for every array leaf of a skeleton, in order."""
    out = []
    for path, spec in jax.tree_util.tree_flatten_with_path(skeleton, is_leaf=is_spec)[0]:
        if is_spec(spec):
            dtype = f"key<{spec.key_impl}>" if spec.key_impl else spec.dtype
            out.append(
                {"path": jax.tree_util.keystr(path), "shape": list(spec.shape), "dtype": dtype}
            )
    return out


def save(path: str | os.PathLike, train_state: Any, *, metadata: dict[str, Any] | None = None):
    """Save a `TrainState` (or any pytree of arrays and modules) to directory `path`.

    The write is atomic: everything is written into a temporary directory next to
    `path`, flushed to disk (`fsync`), then renamed into place. When `path` already
    holds a checkpoint, the files are replaced one by one with `os.replace`, the
    self-contained `checkpoint.npz` first; a crash at any point leaves either the
    previous or the new checkpoint loadable. One writer per `path` at a time.

    The file holds no code: the structure is JSON naming classes and functions by
    `module:qualname`, the arrays plain `.npy` entries (see `lerax.checkpoint.load`).
    Host-side only: do not call it inside `jit` (use the `SaveCheckpoints` callback).

    Args:
        path: Target directory (created, with its parents, if missing).
        train_state: The state to save; array leaves may be JAX arrays (including
            typed PRNG keys) or numpy arrays.
        metadata: Extra JSON-serialisable facts recorded in the metadata.

    Raises:
        TypeError: if a non-array part of `train_state` cannot be recorded (a
            lambda, a class defined inside a function, an open file), naming it.
        FileExistsError: if `path` exists and is not a directory.
        OSError: if the files cannot be written.
    """
    skeleton, leaves = split_state(train_state)
    leaves = [np.asarray(leaf) for leaf in leaves]
    record = dict(metadata or {})
    for name in ("iteration", "num_timesteps", "num_episodes"):
        value = getattr(train_state, name, None)
        if value is not None and name not in record:
            record[name] = np.asarray(value).tolist()
    write_checkpoint(path, skeleton, leaves, record)


def write_checkpoint(
    path: str | os.PathLike,
    skeleton: Any,
    leaves: Sequence[np.ndarray],
    metadata: dict[str, Any],
    *,
    structure: str | None = None,
) -> None:
    """Atomically write a checkpoint directory from a skeleton and numpy leaves.

    Args:
        path: Target directory.
        skeleton: The structure, array leaves replaced by `LeafSpec`s (`split_state`).
        leaves: The numpy arrays the specs point to.
        metadata: JSON-serialisable facts to record.
        structure: `encode_structure(skeleton)`, when the caller already has it.

    Raises:
        TypeError: if the skeleton cannot be recorded.
        FileExistsError: if `path` exists and is not a directory.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(
            f"lerax.checkpoint: '{path}' exists and is not a directory (a policy file "
            "written by an older lerax?); remove it or choose another path."
        )
    if structure is None:
        structure = encode_structure(skeleton)
    header = f'{{"format":{FORMAT_VERSION},"structure":{structure}}}'.encode()
    record = {
        "format": FORMAT_VERSION,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **metadata,
        "leaves": describe_leaves(skeleton),
    }
    record["format"] = FORMAT_VERSION  # never overridden by `metadata`
    record_bytes = json.dumps(record, indent=2, default=_json_default).encode()
    entries = {
        STRUCTURE_KEY: np.frombuffer(header, np.uint8),
        METADATA_KEY: np.frombuffer(record_bytes, np.uint8),
    }
    for index, leaf in enumerate(leaves):
        leaf = np.asarray(leaf)
        if leaf.dtype.kind in "OUSMm":
            raise TypeError(
                f"lerax.checkpoint: leaf {describe_leaves(skeleton)[index]['path']} has dtype "
                f"{leaf.dtype}; only numeric, bool and ml_dtypes arrays are saved."
            )
        if leaf.dtype.kind not in STANDARD_KINDS:  # bfloat16, float8, ...: raw bytes
            leaf = np.frombuffer(leaf.tobytes(), np.uint8)
        entries[leaf_key(index)] = leaf

    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_entries(path.parent, path.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        _write_file(tmp / ARRAYS_FILE, lambda f: np.savez(f, **entries))
        _write_file(tmp / METADATA_FILE, lambda f: f.write(record_bytes))
        _fsync_directory(tmp)
        try:
            os.rename(tmp, path)  # a new checkpoint appears whole, or not at all
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not path.is_dir():
                raise
        else:
            _fsync_directory(path.parent)
            return
        # `path` holds a previous checkpoint: replace file by file, the
        # self-contained arrays file first.
        for name in (ARRAYS_FILE, METADATA_FILE):
            os.replace(tmp / name, path / name)
        _fsync_directory(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_file(path: Path, write) -> None:
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _fsync_directory(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # platforms without directory handles (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories: best effort
        pass
    finally:
        os.close(fd)


def remove_stale_entries(directory: Path, name: str | None = None) -> list[Path]:
    """Remove what killed writers left in `directory`: temporaries (`.<name>.tmp-*`)
    and checkpoints half way through removal (`.<name>.deleting-*`).

    Args:
        directory: The directory to sweep (nothing happens if it does not exist).
        name: Only the leftovers of this entry; None: of every entry.

    Returns:
        The paths removed.
    """
    prefix = "." + glob.escape(name) if name is not None else ".*"
    removed = []
    for pattern in (f"{prefix}.tmp-*", f"{prefix}.deleting-*"):
        for stale in Path(directory).glob(pattern):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)
