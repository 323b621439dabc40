"""Proximal Policy Optimisation."""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Float

from lerax._checks import as_hyperparameter, check_bool, check_int, check_range

from ._on_policy import AbstractOnPolicyAlgorithm
from ._optim import adam_with_clipping, apply_scaled_update, trainable
from ._rollout import Rollout

_ADAM_EPS = 1e-5
"""Adam's epsilon (CleanRL's), both built into the optimizer and reported."""
_METRICS = ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")
"""The per-minibatch metrics `_loss` returns, averaged over the iteration's minibatches."""


class PPO(AbstractOnPolicyAlgorithm):
    """PPO with clipped surrogate objective (CleanRL's hyper-parameter names).

    Each iteration collects `num_steps` steps from each of `num_envs` envs, computes
    GAE advantages (time-limit truncations are bootstrapped with the critic's value
    of the true final observation), then runs `num_epochs` passes of
    `num_minibatches` minibatch Adam steps.

    Shape-fixing sizes are static ints; the numbers one may sweep (learning rate,
    gamma, ...) are float32 arrays, so `jax.vmap` over them compiles once.

    Args:
        num_envs: Parallel envs.
        num_steps: Steps per env per iteration.
        num_epochs: Passes over each rollout.
        num_minibatches: Minibatches per epoch; must divide `num_envs * num_steps`.
        learning_rate: Adam step size.
        anneal_lr: Decay the learning rate linearly to 0 over the planned iterations.
        anneal_clip: Decay the clipping epsilon linearly to 0 over the planned
            iterations too (rl-baselines3-zoo's `clip_range: lin_0.2`).
        gamma: Discount factor in [0, 1].
        gae_lambda: GAE lambda in [0, 1].
        clip_coef: Surrogate clipping epsilon (> 0).
        ent_coef: Entropy bonus weight (>= 0).
        vf_coef: Value loss weight (>= 0).
        max_grad_norm: Global gradient-norm clip (> 0).
        normalize_advantages: Normalise advantages per minibatch.
    """

    num_envs: int = eqx.field(static=True, default=4)
    num_steps: int = eqx.field(static=True, default=128)
    num_epochs: int = eqx.field(static=True, default=4)
    num_minibatches: int = eqx.field(static=True, default=4)
    learning_rate: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=2.5e-4)
    anneal_lr: bool = eqx.field(static=True, default=True)
    anneal_clip: bool = eqx.field(static=True, default=False)
    gamma: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.99)
    gae_lambda: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.95)
    clip_coef: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.2)
    ent_coef: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.01)
    vf_coef: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.5)
    max_grad_norm: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.5)
    normalize_advantages: bool = eqx.field(static=True, default=True)
    update_uses_key: ClassVar[bool] = True

    def __check_init__(self):
        for name in ("num_envs", "num_steps", "num_epochs", "num_minibatches"):
            check_int("PPO", name, getattr(self, name))
        if (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ValueError(
                f"PPO: `num_minibatches` ({self.num_minibatches}) must divide "
                f"num_envs * num_steps ({self.num_envs * self.num_steps})."
            )
        for name in ("anneal_lr", "anneal_clip", "normalize_advantages"):
            check_bool("PPO", name, getattr(self, name))
        inf = float("inf")
        check_range("PPO", "learning_rate", self.learning_rate, low=0.0, high=inf, low_open=True)
        check_range("PPO", "gamma", self.gamma, low=0.0, high=1.0)
        check_range("PPO", "gae_lambda", self.gae_lambda, low=0.0, high=1.0)
        check_range("PPO", "clip_coef", self.clip_coef, low=0.0, high=inf, low_open=True)
        check_range("PPO", "ent_coef", self.ent_coef, low=0.0, high=inf)
        check_range("PPO", "vf_coef", self.vf_coef, low=0.0, high=inf)
        check_range("PPO", "max_grad_norm", self.max_grad_norm, low=0.0, high=inf, low_open=True)

    def _optimizer(self) -> optax.GradientTransformation:
        return adam_with_clipping(self.max_grad_norm, eps=_ADAM_EPS)

    def optimizer_settings(self) -> dict[str, Any]:
        return {
            "optimizer": "adam",
            "optimizer/eps": _ADAM_EPS,
            "learning_rate_schedule": "linear" if self.anneal_lr else "constant",
        }

    def update(
        self,
        policy,
        opt_state,
        rollout: Rollout,
        advantages,
        returns,
        learning_rate,
        *,
        key,
        remaining=1.0,
    ):
        batch_size = self.num_envs * self.num_steps
        minibatch_size = batch_size // self.num_minibatches
        flat = jax.tree.map(
            lambda x: x.reshape((batch_size,) + x.shape[2:]),
            (rollout.observation, rollout.action, rollout.log_prob, advantages, returns),
        )
        optimizer = self._optimizer()
        params_filter = trainable(policy, as_filter=True)
        clip_coef = self.clip_coef * remaining if self.anneal_clip else self.clip_coef

        def minibatch_step(carry, minibatch):
            policy, opt_state = carry
            (loss, metrics), grads = eqx.filter_value_and_grad(self._loss, has_aux=True)(
                policy, clip_coef, *minibatch
            )
            grads = eqx.filter(grads, params_filter)
            policy, opt_state = apply_scaled_update(
                optimizer, grads, opt_state, policy, learning_rate
            )
            return (policy, opt_state), metrics

        def epoch(carry, epoch_key):
            permutation = jr.permutation(epoch_key, batch_size)
            shuffled = jax.tree.map(
                lambda x: x[permutation].reshape(
                    (self.num_minibatches, minibatch_size) + x.shape[1:]
                ),
                flat,
            )
            return jax.lax.scan(minibatch_step, carry, shuffled)

        # The metrics leave the scans as ONE vector per minibatch (a separate output per
        # metric costs a small XLA:CPU kernel each per minibatch). Unused, XLA drops them.
        (policy, opt_state), metrics = jax.lax.scan(
            epoch, (policy, opt_state), jr.split(key, self.num_epochs)
        )
        means = jnp.mean(metrics, axis=(0, 1))
        return policy, opt_state, {name: means[i] for i, name in enumerate(_METRICS)}

    def _loss(self, policy, clip_coef, observation, action, old_log_prob, advantage, returns):
        log_prob, entropy, value = jax.vmap(policy.evaluate_action)(observation, action)
        log_ratio = log_prob - old_log_prob
        ratio = jnp.exp(log_ratio)
        if self.normalize_advantages:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        clipped = jnp.clip(ratio, 1.0 - clip_coef, 1.0 + clip_coef)
        per_sample_policy_loss = jnp.maximum(-advantage * ratio, -advantage * clipped)
        squared_error = (value - returns) ** 2
        policy_loss = per_sample_policy_loss.mean()
        value_loss = 0.5 * jnp.mean(squared_error)
        loss = policy_loss - self.ent_coef * entropy.mean() + self.vf_coef * value_loss
        # The reported metrics, as ONE reduction over a (minibatch, 5) stack: separate
        # means cost a small XLA:CPU kernel each (the loss above is only differentiated).
        per_sample = jnp.stack(
            [
                per_sample_policy_loss,
                squared_error,
                entropy,
                (ratio - 1.0) - log_ratio,
                (jnp.abs(ratio - 1.0) > clip_coef).astype(jnp.float32),
            ],
            axis=-1,
        )
        means = jax.lax.stop_gradient(per_sample.mean(axis=0))
        means = means.at[1].multiply(0.5)  # the value loss is half the squared error
        metric_loss = means[0] - self.ent_coef * means[2] + self.vf_coef * means[1]
        metrics = jnp.concatenate([metric_loss[None], means])  # in the order of _METRICS
        return loss, metrics
