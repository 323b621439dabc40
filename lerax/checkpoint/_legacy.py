"""Reading format-1 files (lerax before format 2) without their pickle.

A format-1 file stored its structure as a pickle, which is never read. Its arrays are
plain `leaf_<k>` entries and its metadata (JSON) records every leaf's path and dtype,
so, given a template of what the file holds (`like=`), the arrays are read by path
into the template's structure. Everything that is not an array comes from the
template.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from ._format import LeafSpec

LEGACY_VERSION = 1


def read_legacy(archive: Any, metadata: dict[str, Any], like: Any) -> Any:
    """The template `like` with its arrays read from a format-1 archive, by path.

    Arrays the file does not hold (a replay buffer left out with `buffer=False`) are
    kept from the template when it holds concrete arrays there.

    Args:
        archive: The open `_Archive` (its `leaf` reads and checks one array).
        metadata: The file's metadata record.
        like: The template.

    Raises:
        CheckpointError: if the metadata is malformed, an array of the template is
            missing from the file (and the template has none), or shapes differ.
    """
    leaves = metadata.get("leaves")
    if not isinstance(leaves, list) or not all(
        isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("dtype"), str)
        for e in leaves
    ):
        raise archive.error("its format-1 metadata has no valid leaf list.")
    index = {e["path"]: (k, e["dtype"]) for k, e in enumerate(leaves)}
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    restored = []
    for path, leaf in flat:
        where = jax.tree_util.keystr(path)
        if not isinstance(leaf, (jax.Array, np.ndarray, jax.ShapeDtypeStruct)):
            restored.append(leaf)  # static or Python values: from the template
            continue
        if where not in index:
            if isinstance(leaf, (jax.Array, np.ndarray)):
                restored.append(leaf)  # left out of the file (a replay buffer)
                continue
            raise archive.error(f"it has no array at `{where}`, which `like` has.")
        k, stored_dtype = index[where]
        restored.append(archive.leaf(_spec(k, leaf, stored_dtype), where))
    return jax.tree_util.tree_unflatten(treedef, restored)


def _spec(index: int, leaf: Any, stored_dtype: str) -> LeafSpec:
    weak = bool(getattr(leaf, "weak_type", False))
    numpy = isinstance(leaf, np.ndarray)
    if jax.numpy.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        data = jax.eval_shape(jax.random.key_data, leaf)
        impl = stored_dtype[4:-1] if stored_dtype.startswith("key<") else ""
        return LeafSpec(index, tuple(data.shape), np.dtype(data.dtype).name, weak, impl, numpy)
    return LeafSpec(index, tuple(leaf.shape), jax.numpy.dtype(leaf.dtype).name, weak, None, numpy)
