"""Deep Q-Networks with double-DQN targets."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, Key, PyTree

from lerax._checks import as_hyperparameter, check_bool, check_range
from lerax.env import AbstractEnv
from lerax.policy import AbstractPolicy, MLPQPolicy

from ._off_policy import AbstractOffPolicyAlgorithm, check_off_policy_sizes
from ._optim import adam_with_clipping, apply_scaled_update
from ._replay_buffer import ReplayBatch
from ._target_update import AbstractTargetUpdate, HardUpdate

_LOSSES = ("huber", "mse")
_ADAM_EPS = 1e-8
"""Adam's epsilon (optax's and Stable-Baselines3's default), both built in and reported."""


class DQNLearnerState(eqx.Module):
    """DQN's own state.

    Attributes:
        target_network: The target copy of the policy's `q_network`.
    """

    target_network: PyTree


def _default_target_update() -> AbstractTargetUpdate:
    return HardUpdate(every=50)


class DQN(AbstractOffPolicyAlgorithm):
    """DQN (double-DQN targets by default) with a linearly annealed epsilon-greedy policy.

    Trains an `MLPQPolicy` (discrete actions). Each gradient step minimises the
    squared (default) or Huber TD error of the Q-values of the actions taken
    against `r + gamma * (1 - terminated) * Q_target(s', argmax_a Q(s', a))`: the
    online network picks the next action, the target network values it (double
    DQN; `double=False`: `max_a Q_target(s', a)`). Time-limit truncations are
    bootstrapped from the true final observation.

    Exploration: epsilon goes linearly from `epsilon_start` to `epsilon_end` over the
    first `exploration_fraction` of the planned env steps, then stays; it is set on
    the policy (`policy.epsilon`) at the start of every iteration, so the returned
    policy carries the final value. Before `learning_starts` env steps, actions are
    uniformly random whatever epsilon is.

    The loop (see `AbstractOffPolicyAlgorithm`): an iteration is `train_freq` steps
    of each of `num_envs` envs, then `gradient_steps` Adam steps on batches of
    `batch_size`. Only `policy.q_network` is optimised (`epsilon` is not a parameter).

    Defaults follow CleanRL's CartPole DQN (Adam 2.5e-4, buffer 10k, batch 128,
    train_freq 10, epsilon 1 -> 0.05 over half the run, a hard target copy every
    500 env steps = `HardUpdate(every=50)` gradient steps), with `learning_starts`
    1000 instead of 10000 and SB3's gradient clipping at 10. The loss is CleanRL's
    squared error: with SB3's Huber loss and these defaults, CartPole's Q-values
    diverged in our runs (mean Q in the thousands; discounted returns are <= 100).

    Args:
        num_envs: Parallel envs.
        buffer_size: Replay capacity in transitions (>= num_envs * train_freq).
        batch_size: Transitions per gradient step.
        learning_starts: Env steps of uniformly random actions before learning
            (<= buffer_size).
        train_freq: Steps per env per iteration.
        gradient_steps: Gradient steps per iteration.
        learning_rate: Adam step size (> 0).
        gamma: Discount factor in [0, 1].
        epsilon_start: Exploration probability at the start, in [0, 1].
        epsilon_end: Exploration probability at the end of the schedule, in [0, 1].
        exploration_fraction: Fraction of the planned env steps over which epsilon
            is annealed, in (0, 1].
        max_grad_norm: Global gradient-norm clip (> 0).
        loss: `"mse"` (mean squared TD error) or `"huber"` (smooth L1, delta 1).
        double: Double-DQN targets (the online network picks the next action, the
            target network values it); False: the target network's maximum, as in
            Stable-Baselines3's DQN (and so in rl-baselines3-zoo's tuned settings).
        target_update: How the target network follows the online one.
    """

    num_envs: int = eqx.field(static=True, default=1)
    buffer_size: int = eqx.field(static=True, default=10_000)
    batch_size: int = eqx.field(static=True, default=128)
    learning_starts: int = eqx.field(static=True, default=1_000)
    train_freq: int = eqx.field(static=True, default=10)
    gradient_steps: int = eqx.field(static=True, default=1)
    learning_rate: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=2.5e-4)
    gamma: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.99)
    epsilon_start: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=1.0)
    epsilon_end: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.05)
    exploration_fraction: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.5)
    max_grad_norm: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=10.0)
    loss: str = eqx.field(static=True, default="mse")
    double: bool = eqx.field(static=True, default=True)
    target_update: AbstractTargetUpdate = eqx.field(default_factory=_default_target_update)

    def __check_init__(self):
        check_off_policy_sizes(self, "DQN")
        check_bool("DQN", "double", self.double)
        if self.loss not in _LOSSES:
            raise ValueError(f"DQN: `loss` must be one of {_LOSSES}, got {self.loss!r}.")
        if not isinstance(self.target_update, AbstractTargetUpdate):
            raise TypeError(
                "DQN: `target_update` must be an AbstractTargetUpdate such as "
                f"HardUpdate(every=50) or PolyakUpdate(tau=0.005), got {self.target_update!r}."
            )
        inf = float("inf")
        check_range("DQN", "learning_rate", self.learning_rate, low=0.0, high=inf, low_open=True)
        check_range("DQN", "gamma", self.gamma, low=0.0, high=1.0)
        check_range("DQN", "epsilon_start", self.epsilon_start, low=0.0, high=1.0)
        check_range("DQN", "epsilon_end", self.epsilon_end, low=0.0, high=1.0)
        check_range(
            "DQN",
            "exploration_fraction",
            self.exploration_fraction,
            low=0.0,
            high=1.0,
            low_open=True,
        )
        check_range("DQN", "max_grad_norm", self.max_grad_norm, low=0.0, high=inf, low_open=True)

    def _optimizer(self) -> optax.GradientTransformation:
        return adam_with_clipping(self.max_grad_norm, eps=_ADAM_EPS)

    def optimizer_settings(self) -> dict[str, Any]:
        return {
            "optimizer": "adam",
            "optimizer/eps": _ADAM_EPS,
            "learning_rate_schedule": "constant",
        }

    def epsilon(
        self, num_timesteps: Int[Array, ""], total_timesteps: Int[Array, ""]
    ) -> Float[Array, ""]:
        """The scheduled exploration probability after `num_timesteps` env steps of a
        run planned for `total_timesteps`."""
        horizon = self.exploration_fraction * total_timesteps.astype(jnp.float32)
        progress = jnp.clip(num_timesteps.astype(jnp.float32) / horizon, 0.0, 1.0)
        return self.epsilon_start + (self.epsilon_end - self.epsilon_start) * progress

    def init_learner(self, env: AbstractEnv, policy: AbstractPolicy, *, key: Key[Array, ""]):
        if not isinstance(policy, MLPQPolicy):
            raise TypeError(f"DQN needs an MLPQPolicy, got {type(policy).__name__}.")
        params = eqx.filter(policy.q_network, eqx.is_inexact_array)
        return self._optimizer().init(params), DQNLearnerState(target_network=policy.q_network)

    def behaviour_policy(self, policy, learner, num_timesteps, total_timesteps):
        epsilon = self.epsilon(num_timesteps, total_timesteps)
        return eqx.tree_at(lambda p: p.epsilon, policy, epsilon)

    def learner_metrics(self, policy, learner) -> dict[str, Array]:
        return {"epsilon": policy.epsilon}

    def update(
        self,
        policy: MLPQPolicy,
        opt_state: PyTree,
        learner: DQNLearnerState,
        batch: ReplayBatch,
        num_updates: Int[Array, ""],
        *,
        key: Key[Array, ""],
    ):
        del key  # the update is deterministic given the batch
        target_policy = eqx.tree_at(lambda p: p.q_network, policy, learner.target_network)
        next_values = jax.vmap(target_policy.q_values)(batch.next_observation)
        if self.double:  # the online network picks the action, the target values it
            next_action = jnp.argmax(jax.vmap(policy.q_values)(batch.next_observation), axis=-1)
            next_q = _take(next_values, next_action)
        else:  # the target network's own best value (DQN as in Stable-Baselines3)
            next_q = jnp.max(next_values, axis=-1)
        not_done = 1.0 - batch.terminated.astype(jnp.float32)
        target = jax.lax.stop_gradient(batch.reward + self.gamma * not_done * next_q)

        def loss_fn(q_network):
            online = eqx.tree_at(lambda p: p.q_network, policy, q_network)
            q = _take(jax.vmap(online.q_values)(batch.observation), batch.action)
            if self.loss == "huber":
                loss = jnp.mean(optax.losses.huber_loss(q, target, delta=1.0))
            else:
                loss = jnp.mean((q - target) ** 2)
            return loss, jnp.mean(q)

        (loss, q_value), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(policy.q_network)
        q_network, opt_state = apply_scaled_update(
            self._optimizer(), grads, opt_state, policy.q_network, self.learning_rate
        )
        target_network = self.target_update(q_network, learner.target_network, num_updates)
        policy = eqx.tree_at(lambda p: p.q_network, policy, q_network)
        metrics = {"loss": loss, "q_value": q_value}
        return policy, opt_state, DQNLearnerState(target_network=target_network), metrics


def _take(values: Float[Array, "batch n"], index: Int[Array, " batch"]) -> Float[Array, " batch"]:
    return jnp.take_along_axis(values, index[:, None].astype(jnp.int32), axis=1)[:, 0]
