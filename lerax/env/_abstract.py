"""The functional environment interface."""

from __future__ import annotations

import abc
from typing import Any, Generic, TypeVar

import equinox as eqx
from jaxtyping import Array, Bool, Float, Key, UInt8

from lerax.space import AbstractSpace

StateT = TypeVar("StateT")


class AbstractEnvState(eqx.Module):
    """Base class of every environment's typed state."""


class AbstractEnv(eqx.Module, Generic[StateT]):
    """A pure, jittable, vmappable environment.

    An environment holds no mutable state: `reset` and `step` take and return an
    explicit typed state. Physical parameters are array fields, so changing them
    (curricula, sweeps) does not recompile a program that takes the env as input.

    All methods act on ONE environment; vectorise with `jax.vmap`.

    Time limits: an env that truncates its episodes after a number of steps
    derives from `AbstractTimeLimitedEnv` and declares `max_episode_steps`. Read it
    with `episode_limit(env)`, the one way lerax reads it, which also looks through
    wrappers.
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """A short human-readable name, e.g. `"CartPole-v1"`."""

    @property
    @abc.abstractmethod
    def observation_space(self) -> AbstractSpace:
        """The space observations are drawn from."""

    @property
    @abc.abstractmethod
    def action_space(self) -> AbstractSpace:
        """The space of valid actions."""

    @abc.abstractmethod
    def reset(self, *, key: Key[Array, ""]) -> tuple[StateT, Array]:
        """Start a new episode.

        Args:
            key: PRNG key for the initial state.

        Returns:
            `(state, observation)`.
        """

    @abc.abstractmethod
    def step(
        self, state: StateT, action: Array, *, key: Key[Array, ""]
    ) -> tuple[StateT, Array, Float[Array, ""], Bool[Array, ""], Bool[Array, ""], dict[str, Any]]:
        """Advance the environment by one step.

        Args:
            state: The current state.
            action: An element of `action_space`.
            key: PRNG key for stochastic transitions.

        Returns:
            `(state, observation, reward, terminated, truncated, info)`, where
            `terminated` marks a true terminal state (no bootstrapping) and
            `truncated` marks a time limit (bootstrap from the final observation).
            `info` is a dict of arrays whose structure does not depend on the state.
        """

    @abc.abstractmethod
    def render(
        self, state: StateT, *, width: int = 600, height: int = 400
    ) -> UInt8[Array, "H W 3"]:
        """Draw the state as an RGB image, in pure JAX (jittable, vmappable).

        Args:
            state: The state to draw.
            width: Image width in pixels.
            height: Image height in pixels.

        Returns:
            A `uint8` array of shape `(height, width, 3)`.
        """


class AbstractTimeLimitedEnv(AbstractEnv[StateT]):
    """An environment that truncates its episodes after `max_episode_steps` steps.

    The capability lerax reads through `episode_limit` (evaluation length, video
    length, the logged `env/max_episode_steps`): the built-in classic-control envs,
    `TimeLimit`, and the adapters derive from it. An env without a time limit
    derives from `AbstractEnv` alone.
    """

    max_episode_steps: eqx.AbstractVar[int | None]
    """Steps after which an episode is truncated; None when this instance has no
    limit (e.g. a Gymnasium env registered without one)."""
