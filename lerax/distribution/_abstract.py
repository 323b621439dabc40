"""The distribution interface."""

from __future__ import annotations

import abc

import equinox as eqx
from jaxtyping import Array, Float, Key


class AbstractDistribution(eqx.Module):
    """A probability distribution over ONE action (vectorise with `jax.vmap`)."""

    @abc.abstractmethod
    def sample(self, *, key: Key[Array, ""]) -> Array:
        """Draw one sample."""

    @abc.abstractmethod
    def log_prob(self, value: Array) -> Float[Array, ""]:
        """Log density (or mass) of `value`, summed over event dimensions."""

    @abc.abstractmethod
    def entropy(self) -> Float[Array, ""]:
        """Entropy, summed over event dimensions."""

    @abc.abstractmethod
    def mode(self) -> Array:
        """The most likely value (the deterministic action)."""

    @abc.abstractmethod
    def sample_and_log_prob(self, *, key: Key[Array, ""]) -> tuple[Array, Float[Array, ""]]:
        """Draw one sample and return it with its log probability.

        `sample_then_score(self, key=key)` is the plain way; a distribution that gets
        the log probability more cheaply (or more stably) from its sample's
        construction computes it directly (`TanhNormal`).
        """


def sample_then_score(
    distribution: AbstractDistribution, *, key: Key[Array, ""]
) -> tuple[Array, Float[Array, ""]]:
    """`distribution.sample` then `distribution.log_prob` of that sample."""
    value = distribution.sample(key=key)
    return value, distribution.log_prob(value)
