"""Running part of a callback only when it is due, per member under `vmap`."""

from __future__ import annotations

import contextlib

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Bool, Float, Int, Key, PyTree

from lerax import host
from lerax.env import AbstractEnv
from lerax.policy import AbstractPolicy, evaluate_policy


@contextlib.contextmanager
def sends_only_when(flag: Bool[Array, ""]):
    """While tracing, let `host.send` cross only when `flag` (and the enclosing scope,
    which `host.active_scope` ANDs in) holds."""
    with host.active_scope(jnp.asarray(flag, bool)):
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


def evaluate_when_due(
    due: Bool[Array, ""],
    env: AbstractEnv,
    policy: AbstractPolicy,
    *,
    num_episodes: int,
    deterministic: bool,
    max_steps: int | None,
    key: Key[Array, ""],
    index: Int[Array, ""],
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """`evaluate_policy`'s mean and std return when `due` (NaN otherwise), computed
    only when due (see `run_if_due`), with the key `jax.random.fold_in(key, index)`.

    The key is folded inside the gated branch: on the CPU a threefry hash is a small
    loop of kernels, and deriving it at every iteration cost more than the branch
    that is skipped."""
    dynamic, static = eqx.partition((env, policy), eqx.is_array)

    def run(operands):
        env, policy = eqx.combine(operands[0], static)
        returns, _ = evaluate_policy(
            env,
            policy,
            num_episodes=num_episodes,
            key=jr.fold_in(jr.wrap_key_data(operands[1]), operands[2]),
            deterministic=deterministic,
            max_steps=max_steps,
        )
        return jnp.mean(returns), jnp.std(returns)

    def skip(operands):
        nan = jnp.asarray(jnp.nan, jnp.float32)
        return nan, nan

    return run_if_due(due, run, skip, (dynamic, jr.key_data(key), index))
