"""Saving and loading a policy on its own: `save_policy` / `load_policy`.

A policy file is a checkpoint directory (see `lerax.checkpoint`) whose saved object is
the policy: the same writer (atomic, self-contained `.npz` with the pickled
structure) and the same reader (no template needed), plus checks that what was read
is a policy and, given `like`, the expected one.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any

import jax
import numpy as np

from lerax.checkpoint._load import check_like, load
from lerax.checkpoint._save import split_state, write_checkpoint

from ._abstract import AbstractPolicy

POLICY_KIND = "policy"

# What reading a damaged file can raise (zip/npz layer, pickle, array restoring).
_UNREADABLE = (
    zipfile.BadZipFile,
    pickle.UnpicklingError,
    EOFError,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    AttributeError,
    ImportError,
    OSError,
)


def save_policy(
    path: str | os.PathLike, policy: AbstractPolicy, *, metadata: dict[str, Any] | None = None
) -> None:
    """Save a policy (its weights, spaces and configuration) to directory `path`.

    The write is atomic (see `lerax.checkpoint.save`). Host-side only: call it outside
    `jit`, e.g. on what `learn` returned. Load it with `load_policy(path)`.

    Args:
        path: Target directory (created, with its parents, if missing).
        policy: The policy. Its non-array parts (activation functions, classes) are
            recorded by import path, so they must be importable module-level objects.
        metadata: Extra JSON-serialisable facts recorded with it (readable with
            `lerax.checkpoint.read_metadata`).

    Raises:
        TypeError: if `policy` is not an `AbstractPolicy`, holds traced arrays, or has
            a part that cannot be recorded (a lambda, a local class).
        OSError: if the files cannot be written.
    """
    if not isinstance(policy, AbstractPolicy):
        raise TypeError(
            f"lerax.save_policy: `policy` must be an AbstractPolicy, got {type(policy).__name__}."
        )
    skeleton, leaves = split_state(policy)
    if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
        raise TypeError(
            "lerax.save_policy: the policy holds traced arrays; call save_policy outside "
            "jit/vmap (on the policy `learn` returned)."
        )
    cls = type(policy)
    record = {
        **(metadata or {}),
        "kind": POLICY_KIND,
        "policy_class": f"{cls.__module__}.{cls.__qualname__}",
    }
    write_checkpoint(path, skeleton, [np.asarray(leaf) for leaf in leaves], record)


def load_policy(
    path: str | os.PathLike, *, like: AbstractPolicy | type[AbstractPolicy] | None = None
) -> AbstractPolicy:
    """Load a policy saved by `save_policy` (or the policy of a training checkpoint
    saved by `lerax.checkpoint.save` / `SaveCheckpoints`).

    No template is needed: the structure is stored with the weights. Give `like` to
    check that the file holds the policy you expect.

    Pickling makes loading run code named in the file: load only files you trust.

    Args:
        path: The directory written by `save_policy`.
        like: Optional. A policy (or `jax.eval_shape` of one): the loaded policy must
            be of the same class with the same array paths, shapes and dtypes and the
            same static configuration (activation, spaces). Or a policy class: the
            loaded policy must be an instance of it.

    Returns:
        The policy, its arrays bitwise equal to those saved.

    Raises:
        FileNotFoundError: if `path` holds no policy file.
        ValueError: if the file is corrupt or unreadable, does not hold a policy, or
            does not match `like`; the message names what differs.
    """
    try:
        tree = load(path)
    except FileNotFoundError:
        raise
    except _UNREADABLE as error:
        raise ValueError(
            f"lerax.load_policy: cannot read a policy from '{path}': the file is corrupt, "
            "truncated or was not written by lerax, or names code that cannot be imported "
            f"({type(error).__name__}: {error})."
        ) from error
    policy = tree
    if not isinstance(policy, AbstractPolicy):
        policy = getattr(tree, "policy", None)  # a training checkpoint
        if not isinstance(policy, AbstractPolicy):
            raise ValueError(
                f"lerax.load_policy: '{path}' holds a {type(tree).__name__}, not a policy."
            )
    if like is None:
        return policy
    if isinstance(like, type):
        if not isinstance(policy, like):
            raise ValueError(
                f"lerax.load_policy: '{path}' holds a {type(policy).__name__}, expected a "
                f"{like.__name__}."
            )
        return policy
    if type(policy) is not type(like):
        raise ValueError(
            f"lerax.load_policy: '{path}' holds a {type(policy).__name__}, but `like` is a "
            f"{type(like).__name__}."
        )
    check_like(policy, like, owner="lerax.load_policy")
    return policy
