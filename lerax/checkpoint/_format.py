"""The on-disk format of a checkpoint, shared by `save`, `load` and `SaveCheckpoints`.

A checkpoint is a directory holding

* `checkpoint.npz` (authoritative, self-contained): the pytree STRUCTURE (the saved
  object pickled with every array leaf replaced by a `LeafSpec`), a JSON metadata
  record, and one `leaf_<k>` entry per array leaf;
* `checkpoint.json`: a human-readable copy of the metadata (leaf paths, shapes,
  dtypes, counters). Informational only; `load` never needs it.

Modules, namedtuples and functions are pickled by reference (their import path), so
loading needs the same code importable, not a template. JAX re-exports many functions
under public names that plain pickle cannot find (e.g. `jax.numpy.tanh`); the
pickler below maps those objects to their public name.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import pickle
from typing import Any

import equinox as eqx

FORMAT_VERSION = 1
ARRAYS_FILE = "checkpoint.npz"
METADATA_FILE = "checkpoint.json"
STRUCTURE_KEY = "structure"
METADATA_KEY = "metadata"
STANDARD_KINDS = "biufc"  # numpy kinds stored as they are; others as raw bytes


def leaf_key(index: int) -> str:
    """The `.npz` entry name of array leaf `index`."""
    return f"leaf_{index:05d}"


@dataclasses.dataclass(frozen=True)
class LeafSpec:
    """Stands in for one array leaf in the pickled structure.

    Attributes:
        index: Position of the leaf in the `.npz` file.
        shape: Shape of the stored array (for PRNG keys: of the key DATA).
        dtype: Name of the stored dtype (for PRNG keys: of the key data).
        weak_type: Whether the JAX array was weakly typed.
        key_impl: For typed PRNG key arrays, the PRNG implementation name
            (restored with `jax.random.wrap_key_data`); None otherwise.
        numpy: Whether the leaf was a numpy array (restored as one, not as a JAX
            array, so float64 survives without `jax_enable_x64`).
    """

    index: int
    shape: tuple[int, ...]
    dtype: str
    weak_type: bool = False
    key_impl: str | None = None
    numpy: bool = False


class AbstractReplayBuffer(eqx.Module):
    """Marks experience storage that `SaveCheckpoints(buffer=False)` leaves out of a
    checkpoint (`lerax.algorithm.ReplayBuffer` is one)."""


class BufferNotSaved(eqx.Module):
    """Stands in for a replay buffer that was not saved.

    `SaveCheckpoints(buffer=False)` replaces every `AbstractReplayBuffer` in the
    state by this marker (target networks, entropy temperature and the rest of the
    algorithm state are saved). `load(path, like=template)` puts the template's
    buffer back in its place; `load(path)` returns the marker as it is.

    Attributes:
        type_name: Class name of the buffer that was left out.
    """

    type_name: str = eqx.field(static=True)


def is_spec(x: Any) -> bool:
    """Whether `x` is a `LeafSpec` (an `is_leaf` predicate)."""
    return isinstance(x, LeafSpec)


_PUBLIC_MODULES = (
    "jax",
    "jax.nn",
    "jax.numpy",
    "jax.lax",
    "jax.random",
    "jax.scipy.special",
    "jax.nn.initializers",
)
_public_names: dict[int, tuple[str, str]] | None = None


def _public_name_table() -> dict[int, tuple[str, str]]:
    global _public_names
    if _public_names is None:
        table: dict[int, tuple[str, str]] = {}
        for module_name in _PUBLIC_MODULES:
            module = importlib.import_module(module_name)
            for name in dir(module):
                value = getattr(module, name, None)
                if not name.startswith("_") and callable(value) and not isinstance(value, type):
                    table.setdefault(id(value), (module_name, name))
        _public_names = table
    return _public_names


def import_public(module_name: str, name: str) -> Any:
    """Unpickling helper: `module_name.name`."""
    return getattr(importlib.import_module(module_name), name)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        ref = _public_name_table().get(id(obj))
        if ref is not None:
            return import_public, ref
        return NotImplemented


def dump_structure(skeleton: Any) -> bytes:
    """Pickle a skeleton (a pytree whose array leaves are `LeafSpec`s).

    Raises:
        TypeError: if some part cannot be pickled (a lambda, a local class, an open
            file, ...), naming the offending object.
    """
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(skeleton)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise TypeError(
            "lerax.checkpoint: cannot pickle the structure of the saved state "
            f"({error}). Everything that is not an array (modules, functions, "
            "static fields) must be importable by name: use module-level functions "
            "and classes, not lambdas or classes defined inside a function."
        ) from error
    return buffer.getvalue()


def load_structure(data: bytes) -> Any:
    """Unpickle a skeleton written by `dump_structure`."""
    return pickle.loads(data)
