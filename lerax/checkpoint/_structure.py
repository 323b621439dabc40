"""The structure of a saved pytree as plain JSON: what `load` rebuilds, without code.

`encode_structure` turns a skeleton (a pytree whose array leaves are `LeafSpec`s) into
JSON text; `decode_structure` rebuilds it from the parsed JSON. Nodes:

* `null`, `true`/`false`, numbers and strings: Python `None`, bools, ints, floats, strs;
* `{"type": "leaf", "index", "shape", "dtype", "weak_type", "key_impl", "numpy"}`;
* `{"type": "tuple" | "list", "items": [...]}`, `{"type": "dict", "items": [[k, v]]}`;
* `{"type": "module", "class": "module:qualname", "fields": {...}}` (dataclasses,
  so every `equinox.Module`), `{"type": "namedtuple", ...}` (optax states);
* `{"type": "function" | "class", "name": "module:qualname"}` (e.g. an activation);
* `{"type": "dtype", "name"}`, `{"type": "scalar", "dtype", "value"}`.

Decoding constructs objects; it never runs code named by the file. Classes and
functions are looked up by name in an allow-list: lerax's own modules (by package
root, so a class that moved between lerax modules is still found through its
package's re-exports), equinox, jax and optax, each only among modules already
imported (lerax's may be imported). Anything else loads only when the caller
names it: through `like=` (the template's object at the same place has that
class or is that function) or `register`. Modules are rebuilt as JAX rebuilds
them (`object.__new__` and the fields set), namedtuples with `tuple.__new__`: no
`__init__`, no `__post_init__` runs.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import sys
import types
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from ._format import BufferNotSaved, LeafSpec

ALLOWED_ROOTS = ("lerax", "equinox", "jax", "optax")
MISSING: Any = object()
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_REGISTRY: dict[str, Any] = {}


class StructureError(Exception):
    """What is wrong with a file's structure (`load` adds the path)."""


def register(*objects: Any) -> Any:
    """Let `load` rebuild these classes or functions of yours without a template.

    Without it, a checkpoint or policy file naming a class or function outside
    lerax, equinox, jax and optax loads only with `like=`. Registering says you
    trust every file that names them (their code is yours; the file only names it).

    Args:
        *objects: Module-level classes (equinox Modules, dataclasses, NamedTuples)
            or functions.

    Returns:
        The first object, so it can be used as a class or function decorator.

    Raises:
        TypeError: if an object cannot be found by its `module:qualname` (a lambda,
            a class defined inside a function).
    """
    for obj in objects:
        _REGISTRY[importable_name(obj)] = obj
    return objects[0] if objects else None


# ----------------------------------------------------------------------- names


def importable_name(obj: Any, path: str = "") -> str:
    """`module:qualname` of a class or function, checked to lead back to `obj`.

    Raises:
        TypeError: if it does not (lambdas, local classes, unnamed callables).
    """
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        if _lookup(sys.modules.get(module), qualname.split(".")) is obj:
            return f"{module}:{qualname}"
    public = _public_name_table().get(id(obj))
    if public is not None:
        return public
    where = f"`{path}` " if path else ""
    raise TypeError(
        f"lerax.checkpoint: cannot record {where}({obj!r}): everything that is not an "
        "array (modules, functions, static fields) must be findable by its "
        "`module:qualname`; use module-level functions and classes, not lambdas or "
        "classes defined inside a function."
    )


def _lookup(obj: Any, names: list[str]) -> Any:
    for name in names:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
        if isinstance(obj, types.ModuleType):  # never reach outside through an import
            return None
    return obj


_PUBLIC_MODULES = ("jax.numpy", "jax.nn", "jax.lax", "jax.random", "jax.scipy.special", "jax")
_public_names: dict[int, str] | None = None


def _public_name_table() -> dict[int, str]:
    """JAX re-exports many functions under public names other than their own
    `module:qualname` (e.g. `jax.numpy.tanh`); map them to a public one."""
    global _public_names
    if _public_names is None:
        table: dict[int, str] = {}
        for module_name in _PUBLIC_MODULES:
            module = importlib.import_module(module_name)
            for name in dir(module):
                value = getattr(module, name, None)
                if not name.startswith("_") and callable(value) and not isinstance(value, type):
                    table.setdefault(id(value), f"{module_name}:{name}")
        _public_names = table
    return _public_names


def _resolve(name: Any, kind: str, like: Any, path: str) -> Any:
    if not isinstance(name, str) or name.count(":") != 1:
        raise StructureError(f"{_at(path)}: malformed {kind} name {name!r}.")
    module_name, qualname = name.split(":")
    parts, qparts = module_name.split("."), qualname.split(".")
    if not all(_NAME.match(p) and not p.startswith("__") for p in parts + qparts):
        raise StructureError(f"{_at(path)}: {name!r} is not a valid {kind} name.")
    if like is not MISSING:
        candidate = like if kind in ("function", "class") else type(like)
        try:
            if importable_name(candidate) == name and _is_kind(candidate, kind):
                return candidate
        except TypeError:
            pass
    if name in _REGISTRY:
        obj = _REGISTRY[name]
    elif parts[0] in ALLOWED_ROOTS:
        obj = _find(parts, qparts)
        if obj is None:
            raise StructureError(
                f"{_at(path)}: `{name}` does not exist in this version of {parts[0]}."
            )
        root = str(getattr(obj, "__module__", "")).split(".")[0]
        if root not in ALLOWED_ROOTS:
            raise StructureError(f"{_at(path)}: `{name}` is defined outside the allow-list.")
    else:
        raise StructureError(
            f"{_at(path)} is `{name}`, which is not a lerax, equinox, jax or optax {kind}; "
            "nothing outside that allow-list is loaded without your say-so: pass `like=` "
            "(an object of the same structure, e.g. your policy or `algo.init(...)`), or "
            f"call `lerax.checkpoint.register({qparts[-1]})` first."
        )
    if not _is_kind(obj, kind):
        raise StructureError(f"{_at(path)}: `{name}` is not a {kind}.")
    return obj


def _find(parts: list[str], qparts: list[str]) -> Any:
    """The object, searched in the named module, then (lerax only) in the packages
    above it, which re-export their public classes."""
    candidates = [".".join(parts)]
    if parts[0] == "lerax":
        candidates += [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]
    for module_name in candidates:
        module = sys.modules.get(module_name)
        if module is None and parts[0] == "lerax":
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
        found = _lookup(module, qparts)
        if found is not None:
            return found
    return None


def _is_kind(obj: Any, kind: str) -> bool:
    if kind == "module":
        return (
            isinstance(obj, type)
            and dataclasses.is_dataclass(obj)
            and not getattr(obj, "__abstractmethods__", None)
        )
    if kind == "namedtuple":
        return isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")
    if kind == "class":
        return isinstance(obj, type)
    return callable(obj) and not isinstance(obj, type)


# ---------------------------------------------------------------------- encode


def encode_structure(skeleton: Any) -> str:
    """The JSON text describing `skeleton` (array leaves are `LeafSpec`s).

    Raises:
        TypeError: if a part cannot be described (a lambda, a local class, an open
            file, ...), naming its path.
    """
    return json.dumps(_encode(skeleton, ""), separators=(",", ":"))


def _encode(x: Any, path: str) -> Any:
    if x is None or type(x) in (bool, int, float, str):
        return x
    if isinstance(x, LeafSpec):
        return {"type": "leaf", **dataclasses.asdict(x), "shape": list(x.shape)}
    if isinstance(x, np.dtype):
        return {"type": "dtype", "name": x.name}
    if isinstance(x, np.generic) and x.dtype.kind in "biuf":
        return {"type": "scalar", "dtype": x.dtype.name, "value": x.item()}
    if isinstance(x, type):
        return {"type": "class", "name": importable_name(x, path)}
    if dataclasses.is_dataclass(x):
        fields = {
            f.name: _encode(getattr(x, f.name), f"{path}.{f.name}") for f in dataclasses.fields(x)
        }
        return {"type": "module", "class": importable_name(type(x), path), "fields": fields}
    if isinstance(x, tuple) and hasattr(type(x), "_fields"):
        fields = {n: _encode(getattr(x, n), f"{path}.{n}") for n in type(x)._fields}
        return {"type": "namedtuple", "class": importable_name(type(x), path), "fields": fields}
    if type(x) in (tuple, list):
        items = [_encode(v, f"{path}[{i}]") for i, v in enumerate(x)]
        return {"type": type(x).__name__, "items": items}
    if type(x) is dict and all(type(k) in (str, int) for k in x):
        return {"type": "dict", "items": [[k, _encode(v, f"{path}[{k!r}]")] for k, v in x.items()]}
    if callable(x):
        return {"type": "function", "name": importable_name(x, path)}
    raise TypeError(
        f"lerax.checkpoint: cannot record `{path or 'the saved object'}`, a "
        f"{type(x).__name__}: static parts must be None, bools, numbers, strings, "
        "dtypes, tuples, lists, dicts, dataclasses (equinox Modules), NamedTuples, or "
        "module-level classes and functions."
    )


# ---------------------------------------------------------------------- decode


def decode_structure(
    node: Any, restore: Callable[[LeafSpec, str], Any], *, like: Any = MISSING
) -> Any:
    """Rebuild the object `node` (from `encode_structure`) describes.

    Args:
        node: The parsed JSON.
        restore: Called with each leaf's spec and path; returns the array.
        like: Optional template at the same place: its classes and functions are
            accepted by name, and its replay buffers fill `BufferNotSaved` markers.

    Raises:
        StructureError: if the node is malformed or names something not allowed.
    """
    return _decode(node, like, "", restore)


def _at(path: str) -> str:
    return f"`{path}`" if path else "the saved object"


def _decode(node: Any, like: Any, path: str, restore) -> Any:
    if node is None or type(node) in (bool, int, float, str):
        return node
    if type(node) is not dict or not isinstance(node.get("type"), str):
        raise StructureError(f"{_at(path)}: malformed node {_short(node)}.")
    kind = node["type"]
    if kind == "leaf":
        return restore(_leaf_spec(node, path), path)
    if kind in ("tuple", "list"):
        items = _get(node, "items", list, path)
        same = isinstance(like, (tuple, list)) and len(like) == len(items)
        out = [
            _decode(v, like[i] if same else MISSING, f"{path}[{i}]", restore)
            for i, v in enumerate(items)
        ]
        return tuple(out) if kind == "tuple" else out
    if kind == "dict":
        out = {}
        for pair in _get(node, "items", list, path):
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (str, int):
                raise StructureError(f"{_at(path)}: malformed dict item {_short(pair)}.")
            key, value = pair
            child = like.get(key, MISSING) if isinstance(like, dict) else MISSING
            out[key] = _decode(value, child, f"{path}[{key!r}]", restore)
        return out
    if kind == "dtype":
        return _dtype(_get(node, "name", str, path), path)
    if kind == "scalar":
        dtype = _dtype(_get(node, "dtype", str, path), path)
        value = node.get("value")
        if dtype.kind not in "biuf" or type(value) not in (bool, int, float):
            raise StructureError(f"{_at(path)}: malformed scalar {_short(node)}.")
        try:
            return dtype.type(value)
        except (OverflowError, ValueError, TypeError) as error:
            raise StructureError(f"{_at(path)}: malformed scalar ({error}).") from None
    if kind in ("function", "class"):
        return _resolve(node.get("name"), kind, like, path)
    if kind in ("module", "namedtuple"):
        return _decode_fields(node, kind, like, path, restore)
    raise StructureError(f"{_at(path)}: unknown node type {kind!r}.")


def _decode_fields(node: dict, kind: str, like: Any, path: str, restore) -> Any:
    cls = _resolve(node.get("class"), kind, like, path)
    fields = _get(node, "fields", dict, path)
    names = [f.name for f in dataclasses.fields(cls)] if kind == "module" else list(cls._fields)
    if sorted(fields) != sorted(names):
        raise StructureError(
            f"{_at(path)}: the file's {cls.__qualname__} has fields {sorted(fields)}, this "
            f"version's has {sorted(names)} (saved by another version? "
            "`lerax.load_policy` still reads the policy of a training checkpoint, and "
            "`lerax.checkpoint.load(path, callback_states=False)` all but its callbacks' "
            "states, to resume with `algo.with_callbacks`)."
        )
    same = type(like) is cls
    values = {
        n: _decode(
            fields[n], getattr(like, n, MISSING) if same else MISSING, f"{path}.{n}", restore
        )
        for n in names
    }
    if kind == "namedtuple":
        return tuple.__new__(cls, [values[n] for n in names])
    if cls is BufferNotSaved and like is not MISSING and not isinstance(like, BufferNotSaved):
        return like  # what was left out (a replay buffer), from the template
    obj = object.__new__(cls)
    for n in names:
        object.__setattr__(obj, n, values[n])
    return obj


def _leaf_spec(node: dict, path: str) -> LeafSpec:
    index = node.get("index")
    shape = node.get("shape")
    key_impl = node.get("key_impl")
    flags = (node.get("weak_type"), node.get("numpy"))
    if (
        type(index) is not int
        or index < 0
        or type(shape) is not list
        or not all(type(n) is int and n >= 0 for n in shape)
        or not (key_impl is None or isinstance(key_impl, str))
        or not all(type(f) is bool for f in flags)
    ):
        raise StructureError(f"{_at(path)}: malformed leaf {_short(node)}.")
    dtype = _dtype(_get(node, "dtype", str, path), path)
    return LeafSpec(index, tuple(shape), dtype.name, flags[0], key_impl, flags[1])


def _dtype(name: str, path: str) -> np.dtype:
    try:
        dtype = jnp.dtype(name)
    except (TypeError, ValueError) as error:
        raise StructureError(f"{_at(path)}: unknown dtype {name!r}.") from error
    if dtype.kind == "O" or dtype.name != name:
        raise StructureError(f"{_at(path)}: dtype {name!r} is not allowed.")
    return dtype


def _get(node: dict, name: str, kind: type, path: str) -> Any:
    value = node.get(name)
    if type(value) is not kind:
        raise StructureError(f"{_at(path)}: malformed node, `{name}` is {_short(value)}.")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
