"""A diagonal normal distribution squashed by `tanh` onto `(-1, 1)`."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Key

from ._abstract import AbstractDistribution
from ._normal import Normal

_LOG_TWO = math.log(2.0)

# Trapezoid rule for E[f(X)], X ~ N(0, 1), on 129 equally spaced nodes in [-8, 8].
# It is exponentially accurate for smooth integrands; for the tanh log-Jacobian,
# whose only non-smoothness is a rounded kink at 0, the absolute error is below
# 1e-4 for every scale up to e^2 (checked against fine numerical integration).
_NODES = np.linspace(-8.0, 8.0, 129)
_WEIGHTS = np.exp(-0.5 * _NODES**2) / math.sqrt(2.0 * math.pi) * (_NODES[1] - _NODES[0])
_WEIGHTS[[0, -1]] *= 0.5


def _log_abs_det_jacobian(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """`log(d tanh(x) / dx) = log(1 - tanh(x)^2)`, stable for large `|x|`."""
    return 2.0 * (_LOG_TWO - x - jax.nn.softplus(-2.0 * x))


class TanhNormal(AbstractDistribution):
    """`tanh(X)` with `X ~ Normal(loc, scale)` (diagonal): a distribution on `(-1, 1)`.

    The whole array is ONE event: `log_prob` and `entropy` sum over every
    element. Used by SAC; rescale to the action bounds outside.

    Args:
        loc: Mean of the pre-tanh normal, shape `(*event,)`.
        scale: Standard deviation of the pre-tanh normal (positive), broadcastable
            to `loc`.

    Notes:
        * `mode()` returns `tanh(loc)`, the squashed mode of the pre-tanh normal
          (the usual deterministic SAC action); it is not in general the mode of
          the squashed density.
        * `log_prob(value)` inverts `tanh`, clipping `value` to
          `(-1 + eps, 1 - eps)` (`eps` the dtype's machine epsilon). Prefer
          `sample_and_log_prob`, which uses the pre-tanh sample and is stable.
        * `entropy()` has no closed form: it returns
          `H[X] + E[log(1 - tanh(X)^2)]` with the expectation evaluated by a fixed
          129-node quadrature (deterministic, no key, differentiable).
    """

    loc: Float[Array, " *event"]
    scale: Float[Array, " *event"]

    def __init__(self, loc: ArrayLike, scale: ArrayLike):
        self.loc, self.scale = jnp.broadcast_arrays(jnp.asarray(loc), jnp.asarray(scale))

    @property
    def base(self) -> Normal:
        """The pre-tanh normal distribution."""
        return Normal(self.loc, self.scale)

    def sample(self, *, key: Key[Array, ""]) -> Float[Array, " *event"]:
        return jnp.tanh(self.base.sample(key=key))

    def log_prob(self, value: Float[ArrayLike, " *event"]) -> Float[Array, ""]:
        value = jnp.asarray(value)
        bound = 1.0 - jnp.finfo(value.dtype).eps
        pre_tanh = jnp.arctanh(jnp.clip(value, -bound, bound))
        return self.base.log_prob(pre_tanh) - jnp.sum(_log_abs_det_jacobian(pre_tanh))

    def log_prob_of_pre_tanh(self, pre_tanh: Float[ArrayLike, " *event"]) -> Float[Array, ""]:
        """The log-density of `tanh(pre_tanh)`, computed from the pre-tanh value (no
        `arctanh`, so exact also where `tanh` rounds to +-1)."""
        pre_tanh = jnp.asarray(pre_tanh)
        return self.base.log_prob(pre_tanh) - jnp.sum(_log_abs_det_jacobian(pre_tanh))

    def sample_and_log_prob(
        self, *, key: Key[Array, ""]
    ) -> tuple[Float[Array, " *event"], Float[Array, ""]]:
        noise = jr.normal(key, self.loc.shape, self.loc.dtype)
        pre_tanh = self.loc + self.scale * noise
        base_log_prob = jnp.sum(
            -0.5 * jnp.square(noise) - jnp.log(self.scale) - 0.5 * math.log(2.0 * math.pi)
        )
        log_prob = base_log_prob - jnp.sum(_log_abs_det_jacobian(pre_tanh))
        return jnp.tanh(pre_tanh), log_prob

    def entropy(self) -> Float[Array, ""]:
        nodes = jnp.asarray(_NODES, self.loc.dtype)
        weights = jnp.asarray(_WEIGHTS, self.loc.dtype)
        pre_tanh = self.loc[..., None] + self.scale[..., None] * nodes
        expected_log_det = jnp.sum(weights * _log_abs_det_jacobian(pre_tanh))
        return self.base.entropy() + expected_log_det

    def mode(self) -> Float[Array, " *event"]:
        return jnp.tanh(self.loc)
