"""Action wrappers for `Box` action spaces: clipping and affine rescaling."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Key

from lerax.space import AbstractSpace, Box

from .._abstract import AbstractEnv
from ._abstract import (
    AbstractSpacePreservingWrapper,
    AbstractWrapper,
    WrapperState,
    reset_episode,
)


def _require_box(env: AbstractEnv, owner: str) -> Box:
    space = env.action_space
    if not (isinstance(space, Box) and np.issubdtype(space.dtype, np.floating)):
        raise TypeError(f"{owner}: the action space must be a floating Box, got {space!r}.")
    return space


class ClipAction(AbstractSpacePreservingWrapper[WrapperState]):
    """Clip every action to the `Box` bounds before stepping the inner env.

    Any real action is accepted (e.g. an unbounded Gaussian sample). The action
    space is left unchanged (unlike Gymnasium's, which becomes unbounded), so
    policies built from the wrapped env still see the true bounds.

    Args:
        env: An environment with a floating `Box` action space.

    Raises:
        TypeError: if the action space is not a floating `Box`.
    """

    env: AbstractEnv

    def __init__(self, env: AbstractEnv):
        _require_box(env, "ClipAction")
        self.env = env

    def reset(self, *, key: Key[Array, ""]) -> tuple[WrapperState, Array]:
        env_state, observation = self.env.reset(key=key)
        return WrapperState(env_state), observation

    def reset_episode(
        self, state: WrapperState, *, key: Key[Array, ""]
    ) -> tuple[WrapperState, Array]:
        env_state, observation = reset_episode(self.env, state.env_state, key=key)
        return WrapperState(env_state), observation

    def step(
        self, state: WrapperState, action: Array, *, key: Key[Array, ""]
    ) -> tuple[
        WrapperState, Array, Float[Array, ""], Bool[Array, ""], Bool[Array, ""], dict[str, Any]
    ]:
        space = self.env.action_space
        env_state, *rest = self.env.step(
            state.env_state, jnp.clip(action, space.low, space.high), key=key
        )
        return (WrapperState(env_state), *rest)


class RescaleAction(AbstractWrapper[WrapperState]):
    """Let the agent act in `[low, high]`, mapped affinely onto the env's bounds.

    An action `a` becomes `env_low + (a - low) * (env_high - env_low) / (high - low)`,
    clipped to the env's bounds. `action_space` is `Box(low, high)` with the env's
    shape and dtype.

    Args:
        env: An environment with a floating `Box` action space with finite bounds.
        low: The agent's lower bound, a scalar or an array of the action shape.
        high: The agent's upper bound, likewise; `low < high` everywhere.

    Raises:
        TypeError: if the action space is not a floating `Box`.
        ValueError: if any bound (the env's or the new one) is infinite, or
            `low >= high` somewhere.
    """

    env: AbstractEnv
    rescaled_space: Box

    def __init__(self, env: AbstractEnv, low: ArrayLike = -1.0, high: ArrayLike = 1.0):
        space = _require_box(env, "RescaleAction")
        bounds = [np.asarray(b, np.float64) for b in (space.low, space.high, low, high)]
        if not all(np.all(np.isfinite(b)) for b in bounds):
            raise ValueError(
                f"RescaleAction: `low`, `high` and the env's action bounds must be finite; "
                f"got low={low!r}, high={high!r}, env action space {space!r}."
            )
        rescaled = Box(low, high, shape=space.shape, dtype=space.dtype)
        if np.any(np.asarray(rescaled.low) >= np.asarray(rescaled.high)):
            raise ValueError(f"RescaleAction: `low` must be < `high`; got {low!r}, {high!r}.")
        self.env = env
        self.rescaled_space = rescaled

    @property
    def observation_space(self) -> AbstractSpace:
        return self.env.observation_space

    @property
    def action_space(self) -> Box:
        return self.rescaled_space

    def reset(self, *, key: Key[Array, ""]) -> tuple[WrapperState, Array]:
        env_state, observation = self.env.reset(key=key)
        return WrapperState(env_state), observation

    def reset_episode(
        self, state: WrapperState, *, key: Key[Array, ""]
    ) -> tuple[WrapperState, Array]:
        env_state, observation = reset_episode(self.env, state.env_state, key=key)
        return WrapperState(env_state), observation

    def step(
        self, state: WrapperState, action: Array, *, key: Key[Array, ""]
    ) -> tuple[
        WrapperState, Array, Float[Array, ""], Bool[Array, ""], Bool[Array, ""], dict[str, Any]
    ]:
        env_low, env_high = self.env.action_space.low, self.env.action_space.high
        low, high = self.rescaled_space.low, self.rescaled_space.high
        env_action = env_low + (action - low) * ((env_high - env_low) / (high - low))
        env_state, *rest = self.env.step(
            state.env_state, jnp.clip(env_action, env_low, env_high), key=key
        )
        return (WrapperState(env_state), *rest)
