"""Reading checkpoints: `load` (no template needed for lerax's own classes) and
`read_metadata`. Nothing read from a file is executed: see `_structure`."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._compare import first_difference
from ._errors import CheckpointError
from ._format import (
    ARRAYS_FILE,
    FORMAT_VERSION,
    METADATA_FILE,
    METADATA_KEY,
    STRUCTURE_KEY,
    LeafSpec,
    leaf_key,
)
from ._legacy import LEGACY_VERSION, read_legacy
from ._structure import MISSING, StructureError, decode_structure, importable_name

# What reading a damaged archive can raise (zip layer, npy header, JSON).
_UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    EOFError,
    OSError,
    KeyError,
    ValueError,
    NotImplementedError,
    RuntimeError,  # zipfile: "File is encrypted" (a flipped flag bit)
    RecursionError,
    OverflowError,
)
_LEAF = re.compile(r"leaf_(\d{5})\.npy\Z")
_HEADER_SLACK = 1 << 16  # bytes of `.npy` header allowed beyond an array's data


def load(path: str | os.PathLike, *, like: Any = None, callback_states: bool = True) -> Any:
    """Load a checkpoint written by `save` or `SaveCheckpoints`.

    Loading runs no code from the file: the structure is JSON naming classes and
    functions, rebuilt only from an allow-list (lerax, equinox, jax, optax); the
    arrays are plain `.npy` entries read with `allow_pickle=False`. Classes of your
    own load with `like=` (or `lerax.checkpoint.register`). Arrays come back as JAX
    arrays with their dtype and weak type, typed PRNG keys as typed keys, so
    `algo.train(load(path), callback=...)` continues the run exactly.

    Args:
        path: A checkpoint directory.
        like: Optional template (e.g. `algo.init(...)`, or `jax.eval_shape` of it).
            Its classes and functions are accepted by name; the loaded state must
            have the same structure, static configuration, shapes and dtypes. If the
            checkpoint left a replay buffer out (`BufferNotSaved`), the template's
            buffer is put in its place.
        callback_states: False to leave out the callbacks' states of a training
            checkpoint (a `TrainState`): they are not decoded, so they may come from
            another lerax version or callbacks you no longer have, and come back as
            `None`. Everything that is trained (policy, optimizer, envs, keys,
            counters) is read as usual; give the state fresh callback states with
            `algo.with_callbacks(state, callbacks)` before `train`.

    Returns:
        The saved object, typically a `lerax.algorithm.TrainState`.

    Raises:
        CheckpointError: (a `ValueError`) if `path` holds no checkpoint, the file is
            truncated or corrupted, of a format version this lerax does not read,
            names a class outside the allow-list, or does not match `like`; the
            message names the path and, for a mismatch, the first differing leaf.
            Also if `callback_states=False` and the file holds no `TrainState`.
        TypeError: if `callback_states` is not a bool.
    """
    if not isinstance(callback_states, bool):
        raise TypeError(
            f"lerax.checkpoint.load: `callback_states` must be True or False, got "
            f"{callback_states!r}."
        )
    skip = None
    if not callback_states:
        from lerax.algorithm._train_state import TrainState  # lerax.algorithm imports this

        skip = (TrainState, _CALLBACK_FIELDS)
        if isinstance(like, TrainState):
            like = dataclasses.replace(like, **dict.fromkeys(_CALLBACK_FIELDS))
    tree = read_tree(path, guide=MISSING if like is None else like, skip=skip)
    if skip is not None and not isinstance(tree, skip[0]):
        raise CheckpointError(
            path,
            f"`callback_states=False` reads a training checkpoint (a TrainState); this one "
            f"holds a {type(tree).__name__}.",
        )
    if like is not None:
        check_like(tree, like, path=path)
    return tree


_CALLBACK_FIELDS = ("callback_state", "callback_step_state")


def read_tree(
    path: str | os.PathLike,
    *,
    guide: Any = MISSING,
    owner: str = "",
    part: tuple[type, str] | None = None,
    skip: tuple[type, tuple[str, ...]] | None = None,
) -> Any:
    """The object a checkpoint holds, its classes resolved through `guide` (a
    template, or `MISSING`) and the allow-list; no comparison with `guide`.

    Args:
        path: The checkpoint directory.
        guide: A template of what is read, or `MISSING`.
        owner: The start of error messages.
        part: `(container, field)`: when the saved object is a `container` (by its
            recorded `module:qualname`), read only its `field` (`guide` then stands
            for that field). The rest of the object is not decoded, so it may hold
            classes of another lerax version (e.g. a callback state with other
            fields); the field's own leaves are still checked one by one.
        skip: `(container, fields)`: when the saved object is a `container`, its
            `fields` are not decoded and come back as `None` (their leaves are
            accounted for, not read); the rest is read and checked as usual.

    Raises:
        CheckpointError: if it cannot be read (messages start with `owner`).
    """
    with _Archive(path, owner) as archive:
        metadata = archive.json(METADATA_KEY, legacy=guide is not MISSING)
        if metadata["format"] == LEGACY_VERSION:  # its pickled structure is never read
            if skip is not None:
                raise archive.error(
                    "it was written by an older lerax (format 1), whose arrays are read "
                    "by the paths of `like`: load it with a template whose callbacks are "
                    "the ones it was saved with, then `algo.with_callbacks`."
                )
            tree = read_legacy(archive, metadata, guide)
            archive.check_all_leaves_used()
            return tree
        header = archive.json(STRUCTURE_KEY)
        node = _without_fields(header.get("structure"), skip, archive)
        field = _field_node(node, part)
        try:
            tree = decode_structure(node if field is None else field, archive.leaf, like=guide)
        except StructureError as error:
            raise archive.error(f"its structure is refused: {error}") from None
        except RecursionError:
            raise archive.error("its structure is refused: nested too deeply.") from None
        if field is None:
            archive.check_all_leaves_used()
    return tree


def _field_node(node: Any, part: tuple[type, str] | None) -> Any:
    """The structure node of `part`'s field when `node` is a module of `part`'s
    container class, else None."""
    fields = None if part is None else _container_fields(node, part[0])
    return None if fields is None else fields.get(part[1])


def _without_fields(node: Any, skip: tuple[type, tuple[str, ...]] | None, archive) -> Any:
    """`node` with `skip`'s fields set to `None` when it is a module of `skip`'s
    container class (their leaves marked as accounted for in `archive`)."""
    fields = None if skip is None else _container_fields(node, skip[0])
    if fields is None:
        return node
    fields = dict(fields)
    for name in skip[1]:
        if name in fields:
            archive.used.update(_leaf_indices(fields[name]))
            fields[name] = None
    return {**node, "fields": fields}


def _container_fields(node: Any, container: type) -> dict | None:
    """The field nodes of `node` when it is a module node of class `container`."""
    if type(node) is not dict or node.get("type") != "module":
        return None
    if node.get("class") != importable_name(container):
        return None
    fields = node.get("fields")
    return fields if type(fields) is dict else None


def _leaf_indices(node: Any) -> set[int]:
    """The archive entries the leaves of a structure node name (not decoded)."""
    found, stack = set(), [node]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            if item.get("type") == "leaf" and type(item.get("index")) is int:
                found.add(item["index"])
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return found


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata recorded with a checkpoint: format version, counters (iteration,
    timesteps, episodes), save time and every leaf's path, shape and dtype.

    Raises:
        CheckpointError: if `path` holds no readable checkpoint.
    """
    with _Archive(path, "lerax.checkpoint.read_metadata") as archive:
        metadata = archive.json(METADATA_KEY, legacy=True)
        if metadata["format"] != LEGACY_VERSION:
            archive.json(STRUCTURE_KEY)  # the file as a whole is checked, not only its metadata
        return metadata


def check_like(
    tree: Any, like: Any, *, path: str | os.PathLike | None = None, owner: str = ""
) -> None:
    """Raise `CheckpointError` naming the first difference between `tree` (what the
    file holds) and `like` (classes, shapes and dtypes, static configuration; the
    policy, optimizer and env before the callbacks' states)."""
    found = first_difference(tree, like)
    if found is None:
        return
    where, got, want = found
    hint = ""
    if where.startswith((".callback_state", ".callback_step_state")):
        hint = (
            " The template was made with other callbacks: pass the callbacks the run "
            "was saved with to `algo.init(..., callback=...)`, or load without `like` "
            "and give the state fresh ones with `algo.with_callbacks(state, callbacks)`."
        )
    raise CheckpointError(
        path,
        f"it does not match `like` at `{where}`: the file has {got}, `like` has {want}.{hint}",
        owner=owner,
    )


class _Archive:
    """The `.npz` of one checkpoint, read entry by entry (each checked by its CRC)."""

    def __init__(self, path: str | os.PathLike, owner: str = ""):
        self.path = path
        self.owner = owner
        self.file = Path(path) / ARRAYS_FILE
        self.used: set[int] = set()

    def __enter__(self) -> _Archive:
        if not self.file.is_file():
            raise self.error(f"no checkpoint there (missing '{ARRAYS_FILE}').")
        try:
            self.zip = zipfile.ZipFile(self.file)
            self.infos = {info.filename: info for info in self.zip.infolist()}
        except _UNREADABLE as error:
            raise self._unreadable(error) from None
        allowed = {f"{STRUCTURE_KEY}.npy", f"{METADATA_KEY}.npy"}
        unexpected = [n for n in self.infos if n not in allowed and not _LEAF.match(n)]
        if unexpected:
            raise self.error(f"unexpected entries {unexpected[:3]}.")
        self._check_sidecar()
        return self

    def _check_sidecar(self) -> None:
        """`checkpoint.json` is informational, but never anything other than JSON."""
        sidecar = Path(self.path) / METADATA_FILE
        if not sidecar.exists():
            return
        try:
            with open(sidecar, "rb") as f:
                record = json.loads(f.read(1 << 26).decode("utf-8"))
        except _UNREADABLE as error:
            raise self.error(f"'{METADATA_FILE}' is not JSON ({type(error).__name__}).") from None
        if not isinstance(record, dict):
            raise self.error(f"'{METADATA_FILE}' is not a JSON object.")

    def __exit__(self, *exc: Any) -> None:
        zip_file = getattr(self, "zip", None)
        if zip_file is not None:
            zip_file.close()

    def error(self, problem: str) -> CheckpointError:
        return CheckpointError(self.path, problem, owner=self.owner)

    def _unreadable(self, error: BaseException) -> CheckpointError:
        return self.error(
            "the file is truncated, corrupted or not a lerax checkpoint "
            f"({type(error).__name__}: {error}).",
        )

    def _array(self, name: str, max_bytes: int) -> np.ndarray:
        info = self.infos.get(f"{name}.npy")
        if info is None:
            raise self.error(f"entry '{name}' is missing.")
        if info.file_size > max_bytes:
            raise self.error(f"entry '{name}' is larger than its description.")
        try:
            data = self.zip.read(info)  # checks the CRC
            return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        except _UNREADABLE as error:
            raise self._unreadable(error) from None

    def json(self, name: str, *, legacy: bool = False) -> dict[str, Any]:
        """Entry `name` parsed as JSON, its format version checked (`legacy`: format 1
        accepted too)."""
        raw = self._array(name, 1 << 30)
        try:
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise ValueError(f"entry '{name}' is not text")
            record = json.loads(raw.tobytes().decode("utf-8"))
        except _UNREADABLE as error:
            raise self._unreadable(error) from None
        version = record.get("format") if isinstance(record, dict) else None
        if version == FORMAT_VERSION:
            return record
        if version == LEGACY_VERSION and legacy:
            return record
        if version == LEGACY_VERSION:
            raise self.error(
                "it was written by an older lerax (format 1, whose structure is a pickle "
                "that could run code when read, so it is never read); load it with `like=` "
                "a template of what it holds (e.g. `algo.init(...)` or your policy): its "
                "arrays are then read by path, everything else comes from the template.",
            )
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise self.error(
                f"it has format version {version}, newer than this lerax reads "
                f"({FORMAT_VERSION}): upgrade lerax.",
            )
        raise self.error(f"entry '{name}' has no known format version.")

    def leaf(self, spec: LeafSpec, where: str) -> jax.Array | np.ndarray:
        """The array of `spec`, checked against it."""
        if spec.index in self.used:
            raise self.error(f"leaf `{where}` reuses entry {leaf_key(spec.index)}.")
        dtype = jnp.dtype(spec.dtype)
        nbytes = int(np.prod(spec.shape, dtype=np.int64)) * dtype.itemsize
        stored = self._array(leaf_key(spec.index), nbytes + _HEADER_SLACK)
        raw = stored.dtype.kind not in "biufc" or dtype.kind not in "biufc"
        if raw:  # stored as raw bytes (bfloat16, float8, ...)
            if stored.dtype != np.uint8 or stored.size != nbytes:
                raise self._mismatch(spec, where, stored)
            stored = np.frombuffer(stored.tobytes(), dtype).reshape(spec.shape)
        elif stored.dtype != dtype or stored.shape != spec.shape:
            raise self._mismatch(spec, where, stored)
        self.used.add(spec.index)
        try:
            return _restore_leaf(stored, spec)
        except (ValueError, TypeError, KeyError) as error:  # e.g. an unknown PRNG impl
            raise self.error(f"leaf `{where}`: {error}") from None

    def _mismatch(self, spec: LeafSpec, where: str, stored: np.ndarray) -> CheckpointError:
        return self.error(
            f"leaf `{where}` is described as {spec.dtype}{list(spec.shape)} but stored "
            f"as {stored.dtype}{list(stored.shape)}.",
        )

    def check_all_leaves_used(self) -> None:
        stored = {int(m.group(1)) for n in self.infos if (m := _LEAF.match(n))}
        if stored != self.used:
            extra = sorted(stored ^ self.used)[:3]
            raise self.error(f"leaf entries {extra} do not match its structure.")


def _restore_leaf(stored: np.ndarray, spec: LeafSpec) -> jax.Array | np.ndarray:
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
