"""Soft Actor-Critic with twin critics and automatic entropy tuning."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, Float, Int, Key, PyTree

from lerax._checks import as_hyperparameter, check_range
from lerax.env import AbstractEnv
from lerax.policy import AbstractPolicy, MLPSACPolicy, SACCritic

from ._off_policy import AbstractOffPolicyAlgorithm, check_off_policy_sizes
from ._optim import apply_scaled_update
from ._replay_buffer import ReplayBatch
from ._target_update import AbstractTargetUpdate, PolyakUpdate

_ADAM_EPS = 1e-8
"""Adam's epsilon (optax's and Stable-Baselines3's default), both built in and reported."""


class SACLearnerState(eqx.Module):
    """SAC's own state.

    Attributes:
        target_critic: The target copy of the policy's twin critics.
        log_alpha: Log of the entropy temperature (trained).
    """

    target_critic: SACCritic
    log_alpha: Float[Array, ""]


class SACOptState(eqx.Module):
    """SAC's three Adam states (the `TrainState.opt_state`)."""

    actor: PyTree
    critic: PyTree
    log_alpha: PyTree


def _default_target_update() -> AbstractTargetUpdate:
    return PolyakUpdate(tau=0.005)


def _optional_hyperparameter(value) -> Float[Array, ""] | None:
    return None if value is None else as_hyperparameter(value)


class SAC(AbstractOffPolicyAlgorithm):
    """SAC (Haarnoja et al. 2018, with the learned temperature of the 2019 version).

    Trains an `MLPSACPolicy` (continuous `Box` actions). Each gradient step, on a
    batch sampled uniformly from the replay buffer, with `alpha = exp(log_alpha)`:

    * critics: both Q-networks regress on
      `r + gamma * (1 - terminated) * (min(Q'_1, Q'_2)(s', a') - alpha * log pi(a'|s'))`,
      `a' ~ pi(s')`, `Q'` the target critics; loss `0.5 * (mse_1 + mse_2)`;
    * actor: minimises `alpha * log pi(a|s) - min(Q_1, Q_2)(s, a)`, `a ~ pi(s)`
      reparameterised, with the just-updated critics;
    * temperature: minimises `-log_alpha * (log pi(a|s) + target_entropy)`;
    * target critics: `target_update` (default Polyak averaging, tau 0.005).

    Time-limit truncations are bootstrapped from the true final observation.
    Defaults follow Stable-Baselines3 (Adam 3e-4 for all three parts, batch 256,
    one gradient step per env step, tau 0.005, initial alpha 1, target entropy
    `-action_dim`), with a 100k buffer and 1000 learning-starts steps.

    Args:
        num_envs: Parallel envs.
        buffer_size: Replay capacity in transitions (>= num_envs * train_freq).
        batch_size: Transitions per gradient step.
        learning_starts: Env steps of uniformly random actions before learning
            (<= buffer_size).
        train_freq: Steps per env per iteration.
        gradient_steps: Gradient steps per iteration.
        actor_learning_rate: Adam step size of the actor (> 0).
        critic_learning_rate: Adam step size of the twin critics (> 0).
        alpha_learning_rate: Adam step size of `log_alpha` (>= 0; 0 keeps alpha fixed
            at `initial_alpha`).
        gamma: Discount factor in [0, 1].
        initial_alpha: Entropy temperature at the start (> 0).
        target_entropy: Entropy the temperature steers towards; None for
            `-action_dim`.
        target_update: How the target critics follow the online ones.
    """

    num_envs: int = eqx.field(static=True, default=1)
    buffer_size: int = eqx.field(static=True, default=100_000)
    batch_size: int = eqx.field(static=True, default=256)
    learning_starts: int = eqx.field(static=True, default=1_000)
    train_freq: int = eqx.field(static=True, default=1)
    gradient_steps: int = eqx.field(static=True, default=1)
    actor_learning_rate: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=3e-4)
    critic_learning_rate: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=3e-4)
    alpha_learning_rate: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=3e-4)
    gamma: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.99)
    initial_alpha: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=1.0)
    target_entropy: Float[Array, ""] | None = eqx.field(
        converter=_optional_hyperparameter, default=None
    )
    target_update: AbstractTargetUpdate = eqx.field(default_factory=_default_target_update)

    def __check_init__(self):
        check_off_policy_sizes(self, "SAC")
        if not isinstance(self.target_update, AbstractTargetUpdate):
            raise TypeError(
                "SAC: `target_update` must be an AbstractTargetUpdate such as "
                f"PolyakUpdate(tau=0.005) or HardUpdate(every=1000), got {self.target_update!r}."
            )
        inf = float("inf")
        for name in ("actor_learning_rate", "critic_learning_rate"):
            check_range("SAC", name, getattr(self, name), low=0.0, high=inf, low_open=True)
        check_range("SAC", "alpha_learning_rate", self.alpha_learning_rate, low=0.0, high=inf)
        check_range("SAC", "gamma", self.gamma, low=0.0, high=1.0)
        check_range("SAC", "initial_alpha", self.initial_alpha, low=0.0, high=inf, low_open=True)
        if self.target_entropy is not None:
            check_range("SAC", "target_entropy", self.target_entropy, low=-inf, high=inf)

    def _optimizer(self) -> optax.GradientTransformation:
        """Adam's scaling, for each of the three parts; no gradient clipping."""
        return optax.scale_by_adam(eps=_ADAM_EPS)

    def optimizer_settings(self) -> dict[str, Any]:
        return {
            "optimizer": "adam",
            "optimizer/eps": _ADAM_EPS,
            "learning_rate_schedule": "constant",
        }

    def init_learner(self, env: AbstractEnv, policy: AbstractPolicy, *, key: Key[Array, ""]):
        if not isinstance(policy, MLPSACPolicy):
            raise TypeError(f"SAC needs an MLPSACPolicy, got {type(policy).__name__}.")
        log_alpha = jnp.log(self.initial_alpha)
        opt_state = SACOptState(
            actor=self._optimizer().init(eqx.filter(policy.actor, eqx.is_inexact_array)),
            critic=self._optimizer().init(eqx.filter(policy.critic, eqx.is_inexact_array)),
            log_alpha=self._optimizer().init(log_alpha),
        )
        return opt_state, SACLearnerState(target_critic=policy.critic, log_alpha=log_alpha)

    def behaviour_policy(self, policy, learner, num_timesteps, total_timesteps):
        return policy

    def learner_metrics(self, policy, learner) -> dict[str, Array]:
        return {"alpha": jnp.exp(learner.log_alpha)}

    def _target_entropy(self, policy: MLPSACPolicy) -> Float[Array, ""]:
        if self.target_entropy is None:
            return jnp.asarray(-float(np.prod(policy.action_space.shape)), jnp.float32)
        return self.target_entropy

    def update(
        self,
        policy: MLPSACPolicy,
        opt_state: SACOptState,
        learner: SACLearnerState,
        batch: ReplayBatch,
        num_updates: Int[Array, ""],
        *,
        key: Key[Array, ""],
    ):
        next_keys, actor_keys = jr.split(key, (2, batch.reward.shape[0]))
        alpha = jnp.exp(learner.log_alpha)

        # Critics.
        next_action, next_log_prob = jax.vmap(lambda o, k: policy.action_and_log_prob(o, key=k))(
            batch.next_observation, next_keys
        )
        target_q1, target_q2 = jax.vmap(learner.target_critic)(batch.next_observation, next_action)
        soft_value = jnp.minimum(target_q1, target_q2) - alpha * next_log_prob
        not_done = 1.0 - batch.terminated.astype(jnp.float32)
        target = jax.lax.stop_gradient(batch.reward + self.gamma * not_done * soft_value)

        def critic_loss_fn(critic):
            q1, q2 = jax.vmap(critic)(batch.observation, batch.action)
            loss = 0.5 * (jnp.mean((q1 - target) ** 2) + jnp.mean((q2 - target) ** 2))
            return loss, jnp.mean(q1)

        (critic_loss, q_value), grads = eqx.filter_value_and_grad(critic_loss_fn, has_aux=True)(
            policy.critic
        )
        critic, critic_opt = apply_scaled_update(
            self._optimizer(), grads, opt_state.critic, policy.critic, self.critic_learning_rate
        )

        # Actor, against the updated critics.
        def actor_loss_fn(actor):
            acting = eqx.tree_at(lambda p: p.actor, policy, actor)
            action, log_prob = jax.vmap(lambda o, k: acting.action_and_log_prob(o, key=k))(
                batch.observation, actor_keys
            )
            q1, q2 = jax.vmap(critic)(batch.observation, action)
            return jnp.mean(alpha * log_prob - jnp.minimum(q1, q2)), log_prob

        (actor_loss, log_prob), grads = eqx.filter_value_and_grad(actor_loss_fn, has_aux=True)(
            policy.actor
        )
        actor, actor_opt = apply_scaled_update(
            self._optimizer(), grads, opt_state.actor, policy.actor, self.actor_learning_rate
        )

        # Temperature.
        entropy_gap = jax.lax.stop_gradient(jnp.mean(log_prob) + self._target_entropy(policy))
        alpha_loss, alpha_grad = jax.value_and_grad(lambda la: -la * entropy_gap)(learner.log_alpha)
        log_alpha, alpha_opt = apply_scaled_update(
            self._optimizer(),
            alpha_grad,
            opt_state.log_alpha,
            learner.log_alpha,
            self.alpha_learning_rate,
        )

        target_critic = self.target_update(critic, learner.target_critic, num_updates)
        policy = eqx.tree_at(lambda p: (p.actor, p.critic), policy, (actor, critic))
        metrics = {
            "critic_loss": critic_loss,
            "actor_loss": actor_loss,
            "alpha_loss": alpha_loss,
            "q_value": q_value,
            "entropy": -jnp.mean(log_prob),
        }
        return (
            policy,
            SACOptState(actor=actor_opt, critic=critic_opt, log_alpha=alpha_opt),
            SACLearnerState(target_critic=target_critic, log_alpha=log_alpha),
            metrics,
        )
