"""Argument checks shared by the algorithms (skipped for traced values)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def as_hyperparameter(value) -> jax.Array:
    """A float32 scalar array: sweepable with `jax.vmap`, traced by `jit`.

    A value that is no number (`"fast"`, `None`) is kept as it is: the converter does
    not know the field's name, so the algorithm's `check_range` of that field raises
    the error that names it.
    """
    try:
        return jnp.asarray(value, dtype=jnp.float32)
    except (TypeError, ValueError):
        return value


def check_int(owner: str, name: str, value, *, minimum: int = 1) -> None:
    """Raise unless `value` is a Python int >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: `{name}` must be an int >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{owner}: `{name}` must be an int >= {minimum}, got {value}.")


def check_range(
    owner: str, name: str, value, *, low: float, high: float, low_open: bool = False
) -> None:
    """Raise unless `low (<|<=) value <= high`; traced values are not checked."""
    if isinstance(value, jax.core.Tracer):
        return
    if not isinstance(value, jax.Array | np.ndarray | np.generic | int | float) or isinstance(
        value, bool
    ):
        raise TypeError(f"{owner}: `{name}` must be a number, got {value!r}.")
    v = float(np.asarray(value))
    ok = (v > low if low_open else v >= low) and v <= high
    if not ok or not np.isfinite(v):
        bracket = "(" if low_open else "["
        raise ValueError(f"{owner}: `{name}` must be in {bracket}{low}, {high}], got {v}.")


def check_learn_arguments(owner: str, env, policy, key) -> None:
    """The checks `learn` and `init` make before compiling anything.

    Raises:
        TypeError: `key` is not a JAX PRNG key (`jax.random.key(0)`), `env` is not an
            `AbstractEnv` (e.g. the id `"CartPole-v1"`), or `policy` is not an
            `AbstractPolicy`.
        ValueError: `policy` was built for another observation or action space.
    """
    from lerax.env import AbstractEnv
    from lerax.policy import AbstractPolicy

    check_key(owner, key)
    if not isinstance(env, AbstractEnv):
        hint = " (a name? build the env: lerax.env.CartPole() or lerax.zoo.make_env(name))"
        raise TypeError(
            f"{owner}: `env` must be a lerax AbstractEnv, got {type(env).__name__}"
            f"{hint if isinstance(env, str) else ''}."
        )
    if not isinstance(policy, AbstractPolicy):
        raise TypeError(
            f"{owner}: `policy` must be a lerax AbstractPolicy, got {type(policy).__name__}."
        )
    for which in ("observation_space", "action_space"):
        mine = getattr(policy, which, None)
        theirs = getattr(env, which)
        if mine is not None and not same_space(mine, theirs):
            raise ValueError(
                f"{owner}: `policy` was built for {which} {describe_space(mine)}, but "
                f"`env` ({env.name}) has {describe_space(theirs)}; build the policy from this env "
                "(e.g. MLPActorCriticPolicy(env=env, key=key))."
            )


def check_key(owner: str, key) -> None:
    """Raise a `TypeError` unless `key` is a JAX PRNG key (new-style `jax.random.key`
    or a raw `uint32[2]` `PRNGKey`); traced keys are accepted."""
    if isinstance(key, jax.core.Tracer):
        return
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            return
        if key.dtype == jnp.uint32 and key.shape[-1:] == (2,):
            return
    raise TypeError(
        f"{owner}: `key` must be a JAX PRNG key such as jax.random.key(0), got "
        f"{type(key).__name__}: {key!r}."
    )


def same_space(a, b) -> bool:
    """Whether two spaces accept the same values (class, shape, dtype, `n`); bounds
    are not compared (they may be traced)."""
    if type(a) is not type(b):
        return False
    for attribute in ("shape", "n"):
        x, y = getattr(a, attribute, None), getattr(b, attribute, None)
        if isinstance(x, jax.core.Tracer) or isinstance(y, jax.core.Tracer):
            continue
        if x is not None and y is not None and tuple(np.atleast_1d(x)) != tuple(np.atleast_1d(y)):
            return False
    dtype_a, dtype_b = getattr(a, "dtype", None), getattr(b, "dtype", None)
    return dtype_a is None or dtype_b is None or np.dtype(dtype_a) == np.dtype(dtype_b)


def describe_space(space) -> str:
    """A short description: `Box(shape=(4,), float32)`, `Discrete(2)`."""
    n = getattr(space, "n", None)
    if n is not None:
        return f"{type(space).__name__}({n})"
    dtype = getattr(space, "dtype", None)
    return f"{type(space).__name__}(shape={getattr(space, 'shape', '?')}, {np.dtype(dtype)})"
