"""The policy interfaces."""

from __future__ import annotations

import abc

import equinox as eqx
from jaxtyping import Array, Float, Key

from lerax.distribution import AbstractDistribution
from lerax.space import AbstractSpace


class AbstractPolicy(eqx.Module):
    """Anything that maps ONE observation to an action (vectorise with `jax.vmap`)."""

    observation_space: eqx.AbstractVar[AbstractSpace]
    action_space: eqx.AbstractVar[AbstractSpace]

    @abc.abstractmethod
    def predict(self, observation: Array, *, key: Key[Array, ""] | None = None) -> Array:
        """Choose an action.

        Args:
            observation: One observation.
            key: When `None`, the deterministic (mode / greedy) action is returned;
                otherwise an action is sampled with this key.

        Returns:
            An element of `action_space`.
        """

    def exploration_keys(
        self, keys: Key[Array, "num_steps num_envs"]
    ) -> Key[Array, "num_steps num_envs"]:
        """The keys a collection loop samples its actions with, one per step and env.

        The loops split one key per step and env and pass them through here before
        acting. By default each step draws fresh noise (`keys` unchanged). A policy
        whose exploration noise persists over several steps (gSDE) repeats a key
        over those steps.
        """
        return keys


class AbstractActorCriticPolicy(AbstractPolicy):
    """A policy with a stochastic actor and a state-value critic (PPO, A2C)."""

    @abc.abstractmethod
    def distribution(self, observation: Array) -> AbstractDistribution:
        """The action distribution at `observation`."""

    @abc.abstractmethod
    def value(self, observation: Array) -> Float[Array, ""]:
        """The critic's state-value estimate."""

    def action_and_log_prob(
        self, observation: Array, *, key: Key[Array, ""]
    ) -> tuple[Array, Float[Array, ""]]:
        """Sample an action; return `(action, log_prob)`. The on-policy rollouts call
        this at every step and the critic once for the whole rollout afterwards."""
        return self.distribution(observation).sample_and_log_prob(key=key)

    def action_and_value(
        self, observation: Array, *, key: Key[Array, ""]
    ) -> tuple[Array, Float[Array, ""], Float[Array, ""]]:
        """Sample an action; return `(action, log_prob, value)`."""
        action, log_prob = self.action_and_log_prob(observation, key=key)
        return action, log_prob, self.value(observation)

    def evaluate_action(
        self, observation: Array, action: Array
    ) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
        """Return `(log_prob, entropy, value)` of `action` at `observation`."""
        dist = self.distribution(observation)
        return dist.log_prob(action), dist.entropy(), self.value(observation)

    def predict(self, observation: Array, *, key: Key[Array, ""] | None = None) -> Array:
        dist = self.distribution(observation)
        return dist.mode() if key is None else dist.sample(key=key)
