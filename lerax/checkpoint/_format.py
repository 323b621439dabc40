"""The on-disk format of a checkpoint, shared by `save`, `load` and `SaveCheckpoints`.

A checkpoint is a directory holding

* `checkpoint.npz` (authoritative, self-contained), a zip archive written by
  `numpy.savez` and read with `allow_pickle=False`, whose entries are
  - `structure`: UTF-8 JSON `{"format": 2, "structure": <node>}` describing the
    saved pytree declaratively (see `lerax.checkpoint._structure`): classes and
    functions by `module:qualname`, static values as JSON, array leaves as
    `{"type": "leaf", "index": k, ...}`;
  - `metadata`: UTF-8 JSON with the format version, counters, save time and every
    leaf's path, shape and dtype;
  - `leaf_<k>`: one plain (non-object) `.npy` array per array leaf.
* `checkpoint.json`: a human-readable copy of the metadata. Informational only;
  `load` never reads it.

Nothing in a file is executed on load: no pickle anywhere.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx

FORMAT_VERSION = 2
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
    """Stands in for one array leaf in a skeleton (a pytree without its arrays).

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
