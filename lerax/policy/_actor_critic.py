"""An actor-critic policy made of two MLPs (PPO, A2C)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Key

from lerax._checks import check_bool
from lerax.distribution import Categorical, Normal
from lerax.space import AbstractSpace, Box, Discrete

from ._abstract import AbstractActorCriticPolicy
from ._mlp import (
    MLP,
    actor_critic_mlps,
    check_activation,
    check_hidden,
    encode_observation,
    observation_classes,
    observation_size,
)

if TYPE_CHECKING:
    from lerax.env import AbstractEnv

_OWNER = "MLPActorCriticPolicy"


class MLPActorCriticPolicy(AbstractActorCriticPolicy):
    """Separate actor and critic MLPs over a flattened observation.

    * `Discrete(n)` actions: `Categorical` over `n` logits.
    * `Box` actions (floating dtype): `Normal(mean(obs), exp(log_std))` with a
      state-independent learned `log_std` (initialised to 0). The Normal is not
      bounded: sampled actions may leave the Box, so clip them in the env
      (`ClipAction`); log-probabilities refer to the unclipped action.

    Initialisation (important for PPO): orthogonal weights with gain `sqrt(2)` on
    hidden layers, `0.01` on the actor's output layer and `1.0` on the critic's
    output layer; zero biases.

    Observations: `Box` observations are flattened (`obs.reshape(-1)`),
    `Discrete` ones one-hot encoded.

    Args:
        env: Supplies `observation_space` and `action_space`.
        key: PRNG key for the initialisation.
        hidden: Hidden-layer widths of both MLPs, a non-empty tuple of positive ints.
        activation: Hidden-layer activation, a callable.
        ortho_init: The orthogonal initialisation above; if False, PyTorch's default
            uniform one for every layer (Stable-Baselines3's `ortho_init=False`).

    Raises:
        TypeError: for an unsupported space or a non-callable `activation`.
        ValueError: for a bad `hidden`.
    """

    observation_space: AbstractSpace
    action_space: AbstractSpace
    actor: MLP
    critic: MLP
    log_std: Float[Array, " *action_shape"] | None

    def __init__(
        self,
        env: AbstractEnv,
        *,
        key: Key[Array, ""],
        hidden: tuple[int, ...] = (64, 64),
        activation: Callable[[Array], Array] = jax.nn.tanh,
        ortho_init: bool = True,
    ):
        hidden = check_hidden(hidden, _OWNER)
        activation = check_activation(activation, _OWNER)
        check_bool(_OWNER, "ortho_init", ortho_init)
        observation_space, action_space = env.observation_space, env.action_space
        observation_classes(observation_space, _OWNER)
        if isinstance(action_space, Discrete):
            action_size = action_space.n
            log_std = None
        elif isinstance(action_space, Box) and np.issubdtype(action_space.dtype, np.floating):
            action_size = math.prod(action_space.shape)
            log_std = jnp.zeros(action_space.shape)
        else:
            raise TypeError(
                f"{_OWNER}: unsupported action space {action_space!r}; "
                "accepted: Discrete, Box with a floating dtype."
            )
        self.observation_space = observation_space
        self.action_space = action_space
        self.actor, self.critic = actor_critic_mlps(
            observation_size(observation_space),
            action_size,
            hidden,
            activation,
            ortho_init=ortho_init,
            key=key,
        )
        self.log_std = log_std

    def _features(self, observation: Array) -> Float[Array, " n"]:
        return encode_observation(observation, observation_classes(self.observation_space, _OWNER))

    def distribution(self, observation: Array) -> Categorical | Normal:
        """The action distribution at `observation`.

        Returns:
            `Categorical(logits)` for `Discrete` actions; `Normal(mean,
            exp(log_std))` with event shape `action_space.shape` for `Box` actions.
        """
        output = self.actor(self._features(observation))
        if self.log_std is None:
            return Categorical(output)
        return Normal(output.reshape(self.log_std.shape), jnp.exp(self.log_std))

    def value(self, observation: Array) -> Float[Array, ""]:
        """The critic's state-value estimate, a scalar."""
        return self.critic(self._features(observation))[0]
