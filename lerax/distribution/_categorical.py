"""A categorical distribution over `{0, ..., n - 1}`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, Int, Key

from ._abstract import AbstractDistribution, sample_then_score


class Categorical(AbstractDistribution):
    """A categorical distribution parameterised by unnormalised log-probabilities.

    Args:
        logits: Unnormalised log-probabilities, shape `(n,)`. They need not sum to
            anything in particular: probabilities are `softmax(logits)`.

    Example:
        >>> dist = Categorical(jnp.array([0.0, 1.0, 2.0]))
        >>> action = dist.sample(key=jr.key(0))  # int32 scalar in {0, 1, 2}
    """

    logits: Float[Array, " n"]

    def __init__(self, logits: ArrayLike):
        self.logits = jnp.asarray(logits)

    @property
    def log_probs(self) -> Float[Array, " n"]:
        """Normalised log-probabilities, `log_softmax(logits)`."""
        return jax.nn.log_softmax(self.logits)

    @property
    def probs(self) -> Float[Array, " n"]:
        """Probabilities, `softmax(logits)`."""
        return jax.nn.softmax(self.logits)

    def sample(self, *, key: Key[Array, ""]) -> Int[Array, ""]:
        return jr.categorical(key, self.logits).astype(jnp.int32)

    def log_prob(self, value: Int[ArrayLike, ""]) -> Float[Array, ""]:
        return self.log_probs[value]

    def entropy(self) -> Float[Array, ""]:
        log_probs = self.log_probs
        return -jnp.sum(jnp.exp(log_probs) * log_probs)

    def sample_and_log_prob(self, *, key: Key[Array, ""]) -> tuple[Array, Float[Array, ""]]:
        return sample_then_score(self, key=key)

    def mode(self) -> Int[Array, ""]:
        return jnp.argmax(self.logits).astype(jnp.int32)
