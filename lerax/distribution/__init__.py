"""Action distributions over ONE action (vectorise with `jax.vmap`)."""

from ._abstract import AbstractDistribution as AbstractDistribution
from ._categorical import Categorical as Categorical
from ._gsde_normal import GSDENormal as GSDENormal
from ._normal import Normal as Normal
from ._tanh_normal import TanhNormal as TanhNormal

__all__ = ["AbstractDistribution", "Categorical", "GSDENormal", "Normal", "TanhNormal"]
