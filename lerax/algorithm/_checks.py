"""The checks `learn` and `init` make on their arguments (the generic argument checks,
`check_int`, `check_range`, ..., are `lerax._checks`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


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
