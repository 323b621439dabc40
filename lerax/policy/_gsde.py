"""An actor-critic policy with generalized state-dependent exploration (gSDE)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Key

from lerax._checks import check_bool, check_int
from lerax.distribution import GSDENormal
from lerax.space import AbstractSpace, Box

from ._abstract import AbstractActorCriticPolicy, AbstractPeriodicNoise
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

_OWNER = "GSDEActorCriticPolicy"


def check_gsde_arguments(owner: str, log_std_init: object, sample_freq: object, per: str) -> None:
    """Check gSDE's `log_std_init` (a number) and `sample_freq` (an int >= 1, or -1:
    once per `per`).

    Raises:
        TypeError: for a value of the wrong type.
        ValueError: for a `sample_freq` of 0 or below -1.
    """
    if isinstance(log_std_init, bool) or not isinstance(log_std_init, int | float):
        raise TypeError(f"{owner}: `log_std_init` must be a number, got {log_std_init!r}.")
    check_int(owner, "sample_freq", sample_freq, minimum=-1)
    if sample_freq == 0:
        raise ValueError(
            f"{owner}: `sample_freq` must be a positive int or -1 (once per {per}), got 0."
        )


def period_keys(
    keys: Key[Array, "num_steps num_envs"], sample_freq: int
) -> Key[Array, "num_steps num_envs"]:
    """`keys` with each step's replaced by that of its period's first step (periods of
    `sample_freq` steps; with -1, one period: the whole loop)."""
    steps = jnp.arange(keys.shape[0])
    first = jnp.zeros_like(steps) if sample_freq < 0 else steps - steps % sample_freq
    return keys[first]


class GSDEActorCriticPolicy(AbstractActorCriticPolicy, AbstractPeriodicNoise):
    """Actor and critic MLPs whose exploration noise depends on the state (gSDE).

    Generalized state-dependent exploration (Raffin, Kober and Stulp, 2021; the
    `use_sde` of Stable-Baselines3 and rl-baselines3-zoo). The action is
    `mean(obs) + features(obs) @ theta`: `features` are the actor's last hidden
    activations (gradient stopped), and `theta` (shape `(last_hidden, *action)`) is
    drawn from `Normal(0, exp(log_std))` once per exploration period and kept
    over its steps. Within a period the noise is a smooth function of the state,
    not white noise: exploration that suits tasks like MountainCarContinuous,
    where jittery actions cancel out. For the policy-gradient losses the action
    is Gaussian with mean `mean(obs)` and variance
    `features(obs)**2 @ exp(log_std)**2` (+1e-6) per action dimension.

    The period is `sample_freq` env steps of a collection loop (`exploration_keys`
    repeats one key over it); with `sample_freq = -1` the noise is drawn once per
    rollout, Stable-Baselines3's default. Only `Box` actions; sampled actions may
    leave the Box and are clipped in the env.

    Initialisation as `MLPActorCriticPolicy`'s: orthogonal weights with gain
    `sqrt(2)` on hidden layers, `0.01` on the actor's output layer and `1.0` on the
    critic's; zero biases.

    Args:
        env: Supplies `observation_space` and `action_space` (`Box`, floating).
        key: PRNG key for the initialisation.
        hidden: Hidden-layer widths of both MLPs, a non-empty tuple of positive ints.
        activation: Hidden-layer activation, a callable.
        ortho_init: The orthogonal initialisation above; if False, PyTorch's default
            uniform one for every layer (Stable-Baselines3's `ortho_init=False`).
        log_std_init: Initial value of every `log_std` entry (Stable-Baselines3's
            default, 0.0).
        sample_freq: Steps between noise draws, a positive int, or -1 (once per
            rollout).

    Raises:
        TypeError: for an unsupported space, a non-callable `activation` or a
            `sample_freq`/`log_std_init` of the wrong type.
        ValueError: for a bad `hidden` or a `sample_freq` of 0 or below -1.
    """

    observation_space: AbstractSpace
    action_space: Box
    actor: MLP
    critic: MLP
    log_std: Float[Array, "last_hidden action_size"]
    sample_freq: int = eqx.field(static=True)

    def __init__(
        self,
        env: AbstractEnv,
        *,
        key: Key[Array, ""],
        hidden: tuple[int, ...] = (64, 64),
        activation: Callable[[Array], Array] = jax.nn.tanh,
        ortho_init: bool = True,
        log_std_init: float = 0.0,
        sample_freq: int = -1,
    ):
        hidden = check_hidden(hidden, _OWNER)
        activation = check_activation(activation, _OWNER)
        check_bool(_OWNER, "ortho_init", ortho_init)
        observation_space, action_space = env.observation_space, env.action_space
        observation_classes(observation_space, _OWNER)
        if not (isinstance(action_space, Box) and np.issubdtype(action_space.dtype, np.floating)):
            raise TypeError(
                f"{_OWNER}: unsupported action space {action_space!r}; accepted: Box with "
                "a floating dtype (gSDE explores continuous actions)."
            )
        check_gsde_arguments(_OWNER, log_std_init, sample_freq, "rollout")
        action_size = math.prod(action_space.shape)
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
        self.log_std = jnp.full((hidden[-1], action_size), float(log_std_init), jnp.float32)
        self.sample_freq = sample_freq

    def _encoded(self, observation: Array) -> Float[Array, " n"]:
        return encode_observation(observation, observation_classes(self.observation_space, _OWNER))

    def distribution(self, observation: Array) -> GSDENormal:
        """`GSDENormal(mean(obs), features(obs), log_std)`: a sample draws the
        exploration weights from its key; for one state it is Gaussian with variance
        `features(obs)**2 @ exp(log_std)**2` (+1e-6) per action dimension."""
        features = self.actor.features(self._encoded(observation))
        mean = self.actor.layers[-1](features).reshape(self.action_space.shape)
        return GSDENormal(mean, jax.lax.stop_gradient(features), self.log_std)

    def value(self, observation: Array) -> Float[Array, ""]:
        """The critic's state-value estimate, a scalar."""
        return self.critic(self._encoded(observation))[0]

    def exploration_keys(
        self, keys: Key[Array, "num_steps num_envs"]
    ) -> Key[Array, "num_steps num_envs"]:
        """Each env keeps the key of its period's first step for the whole period
        (`sample_freq` steps; the whole rollout when -1)."""
        return period_keys(keys, self.sample_freq)
