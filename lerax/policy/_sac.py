"""A soft actor-critic policy: a tanh-Normal actor and twin Q critics (SAC)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, Key

from lerax._checks import check_bool
from lerax.distribution import GSDENormal, TanhNormal
from lerax.space import AbstractSpace, Box

from ._abstract import AbstractPeriodicNoise, AbstractPolicy
from ._gsde import check_gsde_arguments, period_keys
from ._mlp import (
    MLP,
    check_activation,
    check_hidden,
    encode_observation,
    observation_classes,
    observation_size,
)

if TYPE_CHECKING:
    from lerax.env import AbstractEnv

_OWNER = "MLPSACPolicy"


class SACActor(eqx.Module):
    """Maps an observation to a `TanhNormal` on `(-1, 1)^action_shape`.

    The MLP outputs a mean and a raw log-std; the log-std is squashed into
    `[log_std_min, log_std_max]` by `min + (max - min) * (tanh(raw) + 1) / 2`.
    """

    network: MLP
    action_shape: tuple[int, ...] = eqx.field(static=True)
    num_observation_classes: int | None = eqx.field(static=True)
    log_std_min: float = eqx.field(static=True)
    log_std_max: float = eqx.field(static=True)

    def __call__(self, observation: Array) -> TanhNormal:
        output = self.network(encode_observation(observation, self.num_observation_classes))
        mean, raw_log_std = jnp.split(output, 2)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
            jnp.tanh(raw_log_std) + 1.0
        )
        return TanhNormal(
            mean.reshape(self.action_shape), jnp.exp(log_std).reshape(self.action_shape)
        )

    def sample_and_log_prob(
        self, observation: Array, *, key: Key[Array, ""]
    ) -> tuple[Array, Float[Array, ""]]:
        """A sample on `(-1, 1)^action_shape` and its log-density."""
        return self(observation).sample_and_log_prob(key=key)

    def sample(self, observation: Array, *, key: Key[Array, ""]) -> Array:
        """A sample on `(-1, 1)^action_shape`."""
        return self(observation).sample(key=key)

    def exploration_keys(self, keys: Key[Array, "num_steps num_envs"]) -> Key[Array, "..."]:
        """White noise: a fresh key per step (see `lerax.policy.exploration_keys`)."""
        return keys


class GSDESACActor(eqx.Module):
    """SAC's actor with generalized state-dependent exploration (gSDE).

    The pre-tanh action is `mean(obs) + features(obs) @ theta`: `mean` is the MLP's
    output clipped to `[-clip_mean, clip_mean]`, `features` its last hidden
    activations (gradient stopped), `theta ~ Normal(0, exp(log_std))` drawn from
    the key (reparameterised, so `log_std` is learned). A collection loop keeps
    one key, so one `theta`, per period of `sample_freq` steps (-1: per
    collection); see `GSDEActorCriticPolicy`. `exploration(obs)` is the pre-tanh
    action's `GSDENormal`; its tanh-squashed marginal at a state, `__call__`, is
    `TanhNormal(mean, sqrt(features**2 @ exp(log_std)**2 + 1e-6))`.
    """

    network: MLP
    log_std: Float[Array, "last_hidden action_size"]
    action_shape: tuple[int, ...] = eqx.field(static=True)
    num_observation_classes: int | None = eqx.field(static=True)
    sample_freq: int = eqx.field(static=True)
    clip_mean: float = eqx.field(static=True)

    def exploration(self, observation: Array) -> GSDENormal:
        """The pre-tanh action's distribution: `GSDENormal(mean, features, log_std)`."""
        features = self.network.features(
            encode_observation(observation, self.num_observation_classes)
        )
        mean = jnp.clip(self.network.layers[-1](features), -self.clip_mean, self.clip_mean)
        return GSDENormal(
            mean.reshape(self.action_shape), jax.lax.stop_gradient(features), self.log_std
        )

    def __call__(self, observation: Array) -> TanhNormal:
        return _squashed_marginal(self.exploration(observation))

    def sample_and_log_prob(
        self, observation: Array, *, key: Key[Array, ""]
    ) -> tuple[Array, Float[Array, ""]]:
        """`tanh(mean + features @ theta)` with `theta` drawn from `key`, and its
        log-density."""
        exploration = self.exploration(observation)
        pre_tanh = exploration.sample(key=key)
        log_prob = _squashed_marginal(exploration).log_prob_of_pre_tanh(pre_tanh)
        return jnp.tanh(pre_tanh), log_prob

    def sample(self, observation: Array, *, key: Key[Array, ""]) -> Array:
        return self.sample_and_log_prob(observation, key=key)[0]

    def exploration_keys(self, keys: Key[Array, "num_steps num_envs"]) -> Key[Array, "..."]:
        """One key per period of `sample_freq` steps (the whole collection when -1)."""
        return period_keys(keys, self.sample_freq)


def _squashed_marginal(exploration: GSDENormal) -> TanhNormal:
    """The tanh-squashed Gaussian of one gSDE sample at a state."""
    marginal = exploration.marginal
    return TanhNormal(marginal.loc, marginal.scale)


class SACCritic(eqx.Module):
    """Twin Q-networks on `concat(encoded observation, flattened action)`.

    Actions are in the env's units (as stored in a replay buffer).
    """

    q1: MLP
    q2: MLP
    num_observation_classes: int | None = eqx.field(static=True)

    def __call__(
        self, observation: Array, action: Array
    ) -> tuple[Float[Array, ""], Float[Array, ""]]:
        """Return `(q1, q2)`, two scalars."""
        features = encode_observation(observation, self.num_observation_classes)
        inputs = jnp.concatenate([features, action.reshape(-1)])
        return self.q1(inputs)[0], self.q2(inputs)[0]


class MLPSACPolicy(AbstractPolicy, AbstractPeriodicNoise):
    """SAC's actor and twin critics, as two separate submodules.

    * `actor` (`SACActor`): observation -> `TanhNormal` on `(-1, 1)`; actions are
      mapped affinely onto the `Box` bounds by `low + (u + 1) (high - low) / 2`.
    * `critic` (`SACCritic`): `(observation, action) -> (q1, q2)`, actions in env
      units. An algorithm optimises `actor` and `critic` separately and keeps a
      target copy of `critic` (a plain pytree of arrays: Polyak-average it with
      `jax.tree.map`).

    `predict(observation)` (no key) returns the rescaled `tanh(mean)`;
    `predict(observation, key=key)` a rescaled sample. With `use_sde`, the actor
    is a `GSDESACActor` (state-dependent exploration).

    Initialisation: orthogonal weights (gain `sqrt(2)` hidden; output gain `0.01`
    for the actor, `1.0` for the critics), zero biases.

    Args:
        env: Supplies `observation_space` and `action_space` (a `Box` with a
            floating dtype and finite bounds, `low < high`).
        key: PRNG key for the initialisation.
        hidden: Hidden-layer widths of all three MLPs, a non-empty tuple of positive ints.
        activation: Hidden-layer activation, a callable.
        log_std_min: Lower bound of the actor's log-std.
        log_std_max: Upper bound of the actor's log-std (`> log_std_min`).
        ortho_init: The orthogonal initialisation above; if False, PyTorch's default
            uniform one (what Stable-Baselines3's SAC uses).
        use_sde: Explore with gSDE (`GSDESACActor`, Stable-Baselines3's
            `use_sde=True`): state-dependent noise that persists over a period;
            `log_std_min`/`log_std_max` are then unused.
        log_std_init: With `use_sde`, the initial log-std of every exploration weight.
        sample_freq: With `use_sde`, env steps between draws of the exploration
            weights, a positive int, or -1 (once per collection of `train_freq` steps).

    Raises:
        TypeError: for a non-`Box` action space, an unsupported observation space
            or a non-callable `activation`.
        ValueError: for a bad `hidden`, infinite or empty action bounds, or
            `log_std_min >= log_std_max`.
    """

    observation_space: AbstractSpace
    action_space: Box
    actor: SACActor | GSDESACActor
    critic: SACCritic

    def __init__(
        self,
        env: AbstractEnv,
        *,
        key: Key[Array, ""],
        hidden: tuple[int, ...] = (256, 256),
        activation: Callable[[Array], Array] = jax.nn.relu,
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
        ortho_init: bool = True,
        use_sde: bool = False,
        log_std_init: float = -3.0,
        sample_freq: int = -1,
    ):
        hidden = check_hidden(hidden, _OWNER)
        activation = check_activation(activation, _OWNER)
        check_bool(_OWNER, "ortho_init", ortho_init)
        check_bool(_OWNER, "use_sde", use_sde)
        check_gsde_arguments(_OWNER, log_std_init, sample_freq, "collection")
        observation_space, action_space = env.observation_space, env.action_space
        if not (isinstance(action_space, Box) and np.issubdtype(action_space.dtype, np.floating)):
            raise TypeError(
                f"{_OWNER}: unsupported action space {action_space!r}; "
                "accepted: Box with a floating dtype."
            )
        # Inside `jit`/`vmap` (a policy per seed) the bounds may be traced: checked
        # only when they are concrete.
        bounds = (action_space.low, action_space.high)
        if not any(isinstance(b, jax.core.Tracer) for b in bounds):
            low, high = (np.asarray(b) for b in bounds)
            if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
                raise ValueError(
                    f"{_OWNER}: the action Box must have finite bounds with low < high; "
                    f"got {action_space!r}."
                )
        if not float(log_std_min) < float(log_std_max):
            raise ValueError(
                f"{_OWNER}: `log_std_min` must be < `log_std_max`; "
                f"got {log_std_min} and {log_std_max}."
            )
        classes = observation_classes(observation_space, _OWNER)
        obs_size = observation_size(observation_space)
        action_size = int(np.prod(action_space.shape))
        actor_key, q1_key, q2_key = jr.split(key, 3)
        self.observation_space = observation_space
        self.action_space = action_space
        network = MLP(
            obs_size,
            (1 if use_sde else 2) * action_size,
            hidden,
            activation,
            output_gain=0.01,
            key=actor_key,
            orthogonal=ortho_init,
        )
        if use_sde:
            self.actor = GSDESACActor(
                network=network,
                log_std=jnp.full((hidden[-1], action_size), float(log_std_init), jnp.float32),
                action_shape=action_space.shape,
                num_observation_classes=classes,
                sample_freq=sample_freq,
                clip_mean=2.0,
            )
        else:
            self.actor = SACActor(
                network=network,
                action_shape=action_space.shape,
                num_observation_classes=classes,
                log_std_min=float(log_std_min),
                log_std_max=float(log_std_max),
            )
        self.critic = SACCritic(
            q1=MLP(
                obs_size + action_size, 1, hidden, activation, key=q1_key, orthogonal=ortho_init
            ),
            q2=MLP(
                obs_size + action_size, 1, hidden, activation, key=q2_key, orthogonal=ortho_init
            ),
            num_observation_classes=classes,
        )

    def actor_distribution(self, observation: Array) -> TanhNormal:
        """The actor's distribution on `(-1, 1)^action_shape` (before rescaling)."""
        return self.actor(observation)

    def _rescale(self, unit_action: Array) -> Array:
        low, high = self.action_space.low, self.action_space.high
        return jnp.clip(low + 0.5 * (unit_action + 1.0) * (high - low), low, high)

    def action_and_log_prob(
        self, observation: Array, *, key: Key[Array, ""]
    ) -> tuple[Float[Array, " *action_shape"], Float[Array, ""]]:
        """Sample an action in the `Box` bounds and its log-density there.

        The log-density includes the tanh correction and the affine rescale:
        `log p(action) = log p_tanh(u) - sum(log((high - low) / 2))`.
        """
        unit_action, log_prob = self.actor.sample_and_log_prob(observation, key=key)
        half_range = 0.5 * (self.action_space.high - self.action_space.low)
        return self._rescale(unit_action), log_prob - jnp.sum(jnp.log(half_range))

    def q_values(
        self, observation: Array, action: Array
    ) -> tuple[Float[Array, ""], Float[Array, ""]]:
        """The twin critics' `(q1, q2)` for an action in env units."""
        return self.critic(observation, action)

    def predict(
        self, observation: Array, *, key: Key[Array, ""] | None = None
    ) -> Float[Array, " *action_shape"]:
        """The rescaled `tanh(mean)` without `key`; a rescaled sample with `key`."""
        if key is None:
            return self._rescale(self.actor(observation).mode())
        return self._rescale(self.actor.sample(observation, key=key))

    def exploration_keys(
        self, keys: Key[Array, "num_steps num_envs"]
    ) -> Key[Array, "num_steps num_envs"]:
        """The actor's: fresh keys per step, or one per gSDE period."""
        return self.actor.exploration_keys(keys)
