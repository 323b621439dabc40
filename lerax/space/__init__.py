"""Observation and action spaces."""

from ._abstract import AbstractSpace as AbstractSpace
from ._box import Box as Box
from ._discrete import Discrete as Discrete

__all__ = ["AbstractSpace", "Box", "Discrete"]
