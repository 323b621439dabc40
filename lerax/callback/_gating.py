"""Running part of a callback only when it is due, per member under `vmap`."""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Bool, PyTree

from lerax import host


def enclosing_active() -> Bool[Array, ""]:
    """The innermost `lerax.host.active_scope` flag (True outside any scope).

    `active_scope` gates sends with its innermost flag only, so a callback that opens
    its own scope ANDs this in to keep stopped vmapped members silent.
    """
    from lerax.host import _crossing

    stack = getattr(_crossing, "_active_stack", [])
    return jnp.asarray(stack[-1]) if stack else jnp.asarray(True)


@contextlib.contextmanager
def sends_only_when(flag: Bool[Array, ""]):
    """While tracing, let `host.send` cross only when `flag` (and the enclosing scope)
    holds."""
    with host.active_scope(jnp.asarray(flag, bool) & enclosing_active()):
        yield


def select_tree(pred: Bool[Array, ""], on_true: PyTree, on_false: PyTree) -> PyTree:
    """`on_true` where `pred` else `on_false`, leaf by leaf (same structure)."""

    def pick(a, b):
        if isinstance(a, jax.Array) or isinstance(b, jax.Array):
            return jnp.where(pred, a, b)
        return a

    return jax.tree.map(pick, on_true, on_false)


def run_if_due(due, run, skip, operands):
    """`run(operands)` if `due` else `skip(operands)`, computing `run` only when due.

    One run: a `lax.cond`. Under `vmap` (any depth) the batching rule turns the
    per-member flag into ONE unbatched "any member due" predicate around the vmapped
    `run`, and keeps `run`'s results for the due members only (a plain `lax.cond`
    would become a select computing `run` for every member every time).

    Args:
        due: Scalar boolean.
        run: Function of `operands`.
        skip: Function of `operands` with the same output structure as `run`.
        operands: A pytree of arrays; `run` and `skip` must not close over traced
            values.
    """

    @custom_vmap
    def gated(due, operands):
        return jax.lax.cond(due, run, skip, operands)

    @gated.def_vmap
    def _rule(axis_size, in_batched, due, operands):
        due_batched, operands_batched = in_batched
        axes = (jax.tree.map(lambda b: 0 if b else None, operands_batched),)
        run_rows = jax.vmap(run, in_axes=axes, axis_size=axis_size)
        skip_rows = jax.vmap(skip, in_axes=axes, axis_size=axis_size)
        due_rows = due if due_batched else jnp.broadcast_to(due, (axis_size,))

        def run_due_rows(args):
            rows, operands = args
            ran, skipped = run_rows(operands), skip_rows(operands)
            pick = lambda r, k: jnp.where(rows.reshape((-1,) + (1,) * (r.ndim - 1)), r, k)  # noqa: E731
            return jax.tree.map(pick, ran, skipped)

        def skip_all_rows(args):
            return skip_rows(args[1])

        # The per-row flags travel as an operand: a custom_vmap function may not close
        # over values batched by an enclosing vmap.
        args = (due_rows, operands)
        out = run_if_due(jnp.any(due_rows), run_due_rows, skip_all_rows, args)
        return out, jax.tree.map(lambda _: True, out)

    return gated(due, operands)
