"""Saving and loading a policy on its own: `save_policy` / `load_policy`.

A policy file is a checkpoint directory (see `lerax.checkpoint`) whose saved object is
the policy: the same writer (atomic, self-contained `.npz`, structure as JSON) and the
same reader (no code from the file runs; no template needed for lerax's policies),
plus checks that what was read is a policy and, given `like`, the expected one.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from lerax.checkpoint._errors import CheckpointError
from lerax.checkpoint._load import check_like, read_tree
from lerax.checkpoint._save import split_state, write_checkpoint
from lerax.checkpoint._structure import MISSING

from ._abstract import AbstractPolicy

POLICY_KIND = "policy"
_OWNER = "lerax.load_policy"


def save_policy(
    path: str | os.PathLike, policy: AbstractPolicy, *, metadata: dict[str, Any] | None = None
) -> None:
    """Save a policy (its weights, spaces and configuration) to directory `path`.

    The write is atomic (see `lerax.checkpoint.save`). Host-side only: call it outside
    `jit`, e.g. on what `learn` returned. Load it with `load_policy(path)`.

    Args:
        path: Target directory (created, with its parents, if missing).
        policy: The policy. Its non-array parts (activation functions, classes) are
            recorded by `module:qualname`, so they must be module-level objects.
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
    saved by `lerax.checkpoint.save` / `SaveCheckpoints`; only the policy of such a
    checkpoint is decoded, so the rest may come from another lerax version).

    No code from the file runs (see `lerax.checkpoint.load`). Every built-in lerax
    policy loads without a template; a policy class of your own loads with `like=`
    an instance of it (or after `lerax.checkpoint.register(YourPolicy)`). Give
    `like` also to check that the file holds the policy you expect.

    Args:
        path: The directory written by `save_policy`.
        like: Optional. A policy (or `jax.eval_shape` of one): the loaded policy must
            be of the same class with the same array paths, shapes and dtypes and the
            same static configuration (activation, spaces). Or a policy class: the
            loaded policy must be an instance of it.

    Returns:
        The policy, its arrays bitwise equal to those saved.

    Raises:
        CheckpointError: (a `ValueError`) if `path` holds no policy file, the file
            is truncated, corrupted or of an unknown format version, does not hold
            a policy, or does not match `like`; the message names the path and what
            differs.
    """
    from lerax.algorithm._train_state import TrainState  # lerax.algorithm imports this module

    guide = like if like is not None and not isinstance(like, type) else MISSING
    # A training checkpoint: only its policy is read, so the rest of the state (the
    # callbacks' states, say) may come from another lerax version.
    tree = read_tree(path, guide=guide, owner=_OWNER, part=(TrainState, "policy"))
    policy = tree
    if not isinstance(policy, AbstractPolicy):
        policy = getattr(tree, "policy", None)  # a training state saved otherwise
        if not isinstance(policy, AbstractPolicy):
            raise CheckpointError(
                path, f"it holds a {type(tree).__name__}, not a policy.", owner=_OWNER
            )
    if like is None:
        return policy
    if isinstance(like, type):
        if not isinstance(policy, like):
            raise CheckpointError(
                path,
                f"it holds a {type(policy).__name__}, expected a {like.__name__}.",
                owner=_OWNER,
            )
        return policy
    if type(policy) is not type(like):
        raise CheckpointError(
            path,
            f"it holds a {type(policy).__name__}, but `like` is a {type(like).__name__}.",
            owner=_OWNER,
        )
    check_like(policy, like, path=path, owner=_OWNER)
    return policy
