"""The space interface."""

from __future__ import annotations

import abc

import equinox as eqx
import numpy as np
from jaxtyping import Array, Bool, Key


class AbstractSpace(eqx.Module):
    """A set of valid observations or actions.

    Spaces are immutable Equinox modules. Their bounds are arrays, so a space may
    travel inside a jitted program; their shape and dtype are static.
    """

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, ...]:
        """The shape of one element of the space."""

    @property
    @abc.abstractmethod
    def dtype(self) -> np.dtype:
        """The dtype of one element of the space."""

    @abc.abstractmethod
    def sample(self, *, key: Key[Array, ""]) -> Array:
        """Draw one element uniformly from the space.

        Args:
            key: PRNG key.

        Returns:
            An array of shape `self.shape` and dtype `self.dtype`.
        """

    @abc.abstractmethod
    def contains(self, x: Array) -> Bool[Array, ""]:
        """Whether `x` is an element of the space (jittable)."""

    @abc.abstractmethod
    def clip(self, x: Array) -> Array:
        """The nearest element of the space to `x` (jittable); e.g. a Gaussian
        policy's action clipped into a Box."""
