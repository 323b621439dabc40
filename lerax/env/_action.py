"""Turning a policy's action into one the environment accepts."""

from __future__ import annotations

from jaxtyping import Array

from lerax.space import Box

from ._abstract import AbstractEnv


def to_env_action(env: AbstractEnv, action: Array) -> Array:
    """Clip an action into a Box action space (Gaussian policies overshoot its bounds).

    Discrete actions are returned unchanged (no extra operation in the hot loop).
    """
    space = env.action_space
    return space.clip(action) if isinstance(space, Box) else action
