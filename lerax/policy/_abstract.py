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


class AbstractPeriodicNoise(eqx.Module):
    """A policy whose exploration noise persists over periods of several steps (gSDE).

    The collection loops split one key per step and env, then pass them through
    `exploration_keys(policy, keys)`: such a policy repeats a key over each period,
    so the noise its samples draw from that key stays the same; any other policy
    keeps fresh keys (white noise).
    """

    @abc.abstractmethod
    def exploration_keys(
        self, keys: Key[Array, "num_steps num_envs"]
    ) -> Key[Array, "num_steps num_envs"]:
        """The keys to act with, one per step and env (of a `(num_steps, num_envs)` grid)."""


def exploration_keys(
    policy: AbstractPolicy, keys: Key[Array, "num_steps num_envs"]
) -> Key[Array, "num_steps num_envs"]:
    """The keys a collection loop samples `policy`'s actions with: `keys` as they are,
    or, for an `AbstractPeriodicNoise` policy, repeated over its periods."""
    if isinstance(policy, AbstractPeriodicNoise):
        return policy.exploration_keys(keys)
    return keys
