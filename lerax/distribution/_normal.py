"""A diagonal normal distribution."""

from __future__ import annotations

import math

import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, Key

from ._abstract import AbstractDistribution, sample_then_score

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


class Normal(AbstractDistribution):
    """A normal distribution with diagonal covariance.

    The whole array is ONE event: `log_prob` and `entropy` sum over every
    element (for an action vector, over its last and only axis). Vectorise over
    several actions with `jax.vmap`.

    Args:
        loc: Mean, shape `(*event,)`.
        scale: Standard deviation (positive), broadcastable to `loc`.
    """

    loc: Float[Array, " *event"]
    scale: Float[Array, " *event"]

    def __init__(self, loc: ArrayLike, scale: ArrayLike):
        self.loc, self.scale = jnp.broadcast_arrays(jnp.asarray(loc), jnp.asarray(scale))

    def sample(self, *, key: Key[Array, ""]) -> Float[Array, " *event"]:
        noise = jr.normal(key, self.loc.shape, self.loc.dtype)
        return self.loc + self.scale * noise

    def log_prob(self, value: Float[ArrayLike, " *event"]) -> Float[Array, ""]:
        z = (value - self.loc) / self.scale
        return jnp.sum(-0.5 * jnp.square(z) - jnp.log(self.scale) - _HALF_LOG_TWO_PI)

    def entropy(self) -> Float[Array, ""]:
        return jnp.sum(0.5 + _HALF_LOG_TWO_PI + jnp.log(self.scale))

    def sample_and_log_prob(self, *, key: Key[Array, ""]) -> tuple[Array, Float[Array, ""]]:
        return sample_then_score(self, key=key)

    def mode(self) -> Float[Array, " *event"]:
        return self.loc
