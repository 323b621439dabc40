"""The wrapper interface: an environment built around another one."""

from __future__ import annotations

import abc
from typing import TypeVar

import equinox as eqx
from jaxtyping import Array, Key, UInt8

from lerax.space import AbstractSpace

from .._abstract import AbstractEnv, AbstractEnvState

WrapperStateT = TypeVar("WrapperStateT", bound="AbstractWrapperState")


class AbstractWrapperState(AbstractEnvState):
    """The state of a wrapper: the inner env's state plus the wrapper's own fields."""

    env_state: eqx.AbstractVar[AbstractEnvState]


class WrapperState(AbstractWrapperState):
    """The state of a wrapper that keeps nothing of its own.

    Attributes:
        env_state: The inner environment's state.
    """

    env_state: AbstractEnvState


class AbstractWrapper(AbstractEnv[WrapperStateT]):
    """An environment that wraps `env`, delegating `name` and `render` to it.

    A wrapper's state is an `AbstractWrapperState` whose `env_state` field holds
    the inner env's state. Wrappers pass the step `key` to the inner env
    unchanged, so a wrapped env follows the same trajectory as the bare one.

    Subclasses implement `reset`, `reset_episode`, `step` and the two spaces;
    those that do not change the spaces derive from
    `AbstractSpacePreservingWrapper` instead.
    """

    env: eqx.AbstractVar[AbstractEnv]

    @abc.abstractmethod
    def reset_episode(
        self, state: WrapperStateT, *, key: Key[Array, ""]
    ) -> tuple[WrapperStateT, Array]:
        """Start a new episode from `state`, keeping what persists across episodes.

        `reset` starts from nothing (fresh running statistics); `reset_episode`
        is what `AutoReset` calls when an episode ends: episode-scoped fields
        (step counters, running returns, the inner env) restart, while
        cross-episode fields (normalisation statistics, the last finished
        episode's return) are kept. It must not use collectives (`psum`), since
        `AutoReset` evaluates it on every step and selects it with `jnp.where`.

        Args:
            state: The wrapper's current state.
            key: PRNG key for the new episode's initial state.

        Returns:
            `(state, observation)`.
        """

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def unwrapped(self) -> AbstractEnv:
        """The innermost environment (not a wrapper)."""
        env = self.env
        while isinstance(env, AbstractWrapper):
            env = env.env
        return env

    def render(
        self, state: WrapperStateT, *, width: int = 600, height: int = 400
    ) -> UInt8[Array, "H W 3"]:
        return self.env.render(state.env_state, width=width, height=height)


class AbstractSpacePreservingWrapper(AbstractWrapper[WrapperStateT]):
    """A wrapper whose observation and action spaces are those of `env`."""

    @property
    def observation_space(self) -> AbstractSpace:
        return self.env.observation_space

    @property
    def action_space(self) -> AbstractSpace:
        return self.env.action_space


def reset_episode(
    env: AbstractEnv, state: AbstractEnvState, *, key: Key[Array, ""]
) -> tuple[AbstractEnvState, Array]:
    """Start a new episode: `env.reset_episode` for a wrapper, `env.reset` otherwise.

    Args:
        env: The environment.
        state: Its current state (ignored by a bare environment).
        key: PRNG key for the new episode's initial state.

    Returns:
        `(state, observation)`.
    """
    if isinstance(env, AbstractWrapper):
        return env.reset_episode(state, key=key)
    return env.reset(key=key)
