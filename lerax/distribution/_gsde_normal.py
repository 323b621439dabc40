"""The action distribution of generalized state-dependent exploration (gSDE)."""

from __future__ import annotations

import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Key

from ._abstract import AbstractDistribution, sample_then_score
from ._normal import Normal

_VARIANCE_EPSILON = 1e-6


class GSDENormal(AbstractDistribution):
    """`loc + features @ theta` with `theta ~ Normal(0, exp(log_std))`, one action.

    A sample draws the exploration weights `theta` (shape `(features, action
    size)`) from its key, so two samples with the same key and different features
    (states) share `theta`: the noise is a function of the state (gSDE, Raffin et
    al., 2021). For one state the sample is Gaussian with mean `loc` and variance
    `features**2 @ exp(log_std)**2` (+1e-6) per action dimension, which is what
    `log_prob`, `entropy` and `mode` use. Gradients reach `log_std` through the
    reparameterised `theta`; stop them on `features` outside if wanted.

    Args:
        loc: The mean action, shape `(*event,)`.
        features: The state features, shape `(latent,)`.
        log_std: Log-std of the exploration weights, shape `(latent, prod(event))`.
    """

    loc: Float[Array, " *event"]
    features: Float[Array, " latent"]
    log_std: Float[Array, "latent action_size"]

    @property
    def marginal(self) -> Normal:
        """The Gaussian of one sample at this state."""
        variance = jnp.square(self.features) @ jnp.exp(2.0 * self.log_std)
        return Normal(self.loc, jnp.sqrt(variance + _VARIANCE_EPSILON).reshape(self.loc.shape))

    def sample(self, *, key: Key[Array, ""]) -> Float[Array, " *event"]:
        theta = jnp.exp(self.log_std) * jr.normal(key, self.log_std.shape, self.log_std.dtype)
        return self.loc + (self.features @ theta).reshape(self.loc.shape)

    def log_prob(self, value: Float[Array, " *event"]) -> Float[Array, ""]:
        return self.marginal.log_prob(value)

    def entropy(self) -> Float[Array, ""]:
        return self.marginal.entropy()

    def mode(self) -> Float[Array, " *event"]:
        return self.loc

    def sample_and_log_prob(self, *, key: Key[Array, ""]) -> tuple[Array, Float[Array, ""]]:
        return sample_then_score(self, key=key)
