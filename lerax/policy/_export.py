"""A trained policy as a plain inference function, optionally serialised with
`jax.export` (loadable without lerax or the policy's code)."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Key

from ._abstract import AbstractPolicy


def export_inference(policy: AbstractPolicy, *, deterministic: bool = True) -> Callable[..., Array]:
    """The policy's action choice as a pure, jitted function of the observation.

    The weights are closed over (constants of the compiled function), so the result
    is a plain function: `act(observation) -> action` when `deterministic` (the
    policy's `predict` without a key: mode / greedy action), `act(observation, key)
    -> action` otherwise (a sample). It accepts one observation, or a batch with any
    number of leading axes (one action per observation; with a key, every
    observation draws from its own split of it). Observations are cast to the
    observation space's dtype.

    Args:
        policy: A policy, e.g. the one `learn` returned.
        deterministic: Return the deterministic action (no key argument).

    Returns:
        The jitted function.

    Raises:
        TypeError: if `policy` is not an `AbstractPolicy` or `deterministic` not a bool.
    """
    if not isinstance(policy, AbstractPolicy):
        raise TypeError(
            f"export_inference: `policy` must be an AbstractPolicy, got {type(policy).__name__}."
        )
    if not isinstance(deterministic, bool):
        raise TypeError(f"export_inference: `deterministic` must be a bool, got {deterministic!r}.")
    space = policy.observation_space
    event_ndim = len(space.shape)

    def batch_shape(observation: Array) -> tuple[int, ...]:
        if observation.shape[observation.ndim - event_ndim :] != tuple(space.shape):
            raise ValueError(
                f"export_inference: observations must have shape (..., "
                f"{', '.join(map(str, space.shape))}), got {observation.shape}."
            )
        return observation.shape[: observation.ndim - event_ndim]

    if deterministic:

        def act(observation: ArrayLike) -> Array:
            observation = jnp.asarray(observation, space.dtype)
            choose = policy.predict
            for _ in batch_shape(observation):
                choose = jax.vmap(choose)
            return choose(observation)

        return jax.jit(act)

    def act_sampled(observation: ArrayLike, key: Key[Array, ""]) -> Array:
        observation = jnp.asarray(observation, space.dtype)
        shape = batch_shape(observation)
        keys = jr.split(key, math.prod(shape)).reshape(shape) if shape else key

        def choose(o, k):
            return policy.predict(o, key=k)

        for _ in shape:
            choose = jax.vmap(choose)
        return choose(observation, keys)

    return jax.jit(act_sampled)


def serialize_inference(policy: AbstractPolicy) -> bytearray:
    """Serialise the deterministic inference function with `jax.export`.

    The result holds the compiled computation and the weights (StableHLO), for a
    batch of any size: `act(observations)` with `observations` of shape
    `(batch, *observation_space.shape)`. Load it with `deserialize_inference`,
    which needs only JAX (not lerax, not the policy's class).

    Args:
        policy: The policy.

    Returns:
        The serialised function (write it to a file as bytes).

    Raises:
        ImportError: if the `flatbuffers` package (which JAX's serialisation uses)
            is not installed.
    """
    act = export_inference(policy, deterministic=True)
    space = policy.observation_space
    (batch,) = jax.export.symbolic_shape("batch")
    spec = jax.ShapeDtypeStruct((batch, *space.shape), space.dtype)
    exported = jax.export.export(act)(spec)
    try:
        return exported.serialize()
    except ImportError as error:  # jax's serialisation needs the `flatbuffers` package
        raise ImportError(
            f"serialize_inference needs the `flatbuffers` package ({error}); install it "
            "with `pip install flatbuffers` or `pip install lerax[export]`."
        ) from error


def deserialize_inference(data: bytes | bytearray) -> Callable[[Array], Array]:
    """The function serialised by `serialize_inference`: `observations (batch, ...) ->
    actions (batch, ...)`. Uses only `jax.export`."""
    return jax.export.deserialize(bytearray(data)).call
