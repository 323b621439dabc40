"""Advantage Actor-Critic (synchronous, A2C)."""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from lerax._checks import as_hyperparameter, check_bool, check_int, check_range
from lerax.policy import AbstractActorCriticPolicy

from ._on_policy import AbstractOnPolicyAlgorithm
from ._optim import adam_with_clipping, apply_scaled_update, rmsprop_with_clipping, trainable
from ._rollout import Rollout

_ADAM_EPS = 1e-5
"""Adam's epsilon (PPO's) with `use_rmsprop=False`, both built in and reported."""


class A2C(AbstractOnPolicyAlgorithm):
    """A2C: one policy-gradient step per short rollout (Stable-Baselines3's defaults).

    Each iteration collects `num_steps` steps from each of `num_envs` envs with the
    on-policy driver PPO uses (`collect_rollout`; time-limit truncations bootstrapped
    with the critic's value of the true final observation), computes advantages by
    GAE (`gae_lambda=1.0`, the default, is the plain n-step return) and takes ONE
    gradient step on the whole batch:

        loss = -mean(A * log pi(a|s)) - ent_coef * mean(H) + vf_coef * mean((V - R)^2)

    The value loss is the plain mean squared error (no 1/2 factor), as in
    Stable-Baselines3's A2C; PPO's carries the 1/2.

    Optimizer: by default RMSprop as PyTorch computes it (decay 0.99, `eps` added
    after the square root, no momentum, accumulator starting at 0) after global-norm
    clipping, which is what Stable-Baselines3's A2C uses; `use_rmsprop=False` switches
    to Adam (eps 1e-5), PPO's optimizer.

    Shape-fixing sizes are static ints; the numbers one may sweep (learning rate,
    gamma, ...) are float32 arrays, so `jax.vmap` over them compiles once.

    Args:
        num_envs: Parallel envs.
        num_steps: Steps per env per iteration (the n of the n-step return).
        learning_rate: Optimizer step size (> 0).
        anneal_lr: Decay the learning rate linearly to 0 over the planned iterations.
        gamma: Discount factor in [0, 1].
        gae_lambda: GAE lambda in [0, 1]; 1.0 gives n-step returns.
        ent_coef: Entropy bonus weight (>= 0).
        vf_coef: Value loss weight (>= 0).
        max_grad_norm: Global gradient-norm clip (> 0).
        normalize_advantages: Normalise advantages over each batch.
        use_rmsprop: RMSprop (True) or Adam (False).
        rmsprop_decay: RMSprop's squared-gradient averaging factor in [0, 1) (static).
        rmsprop_eps: RMSprop's denominator epsilon (> 0, static); Adam always uses 1e-5.
    """

    num_envs: int = eqx.field(static=True, default=8)
    num_steps: int = eqx.field(static=True, default=5)
    learning_rate: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=7e-4)
    anneal_lr: bool = eqx.field(static=True, default=False)
    gamma: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.99)
    gae_lambda: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=1.0)
    ent_coef: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.0)
    vf_coef: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.5)
    max_grad_norm: Float[Array, ""] = eqx.field(converter=as_hyperparameter, default=0.5)
    normalize_advantages: bool = eqx.field(static=True, default=False)
    use_rmsprop: bool = eqx.field(static=True, default=True)
    rmsprop_decay: float = eqx.field(static=True, default=0.99)
    rmsprop_eps: float = eqx.field(static=True, default=1e-5)
    update_uses_key: ClassVar[bool] = False

    def __check_init__(self):
        for name in ("num_envs", "num_steps"):
            check_int("A2C", name, getattr(self, name))
        for name in ("anneal_lr", "normalize_advantages", "use_rmsprop"):
            check_bool("A2C", name, getattr(self, name))
        for name in ("rmsprop_decay", "rmsprop_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"A2C: `{name}` must be a Python float, got {value!r}.")
        inf = float("inf")
        check_range("A2C", "rmsprop_decay", self.rmsprop_decay, low=0.0, high=1.0)
        if self.rmsprop_decay == 1.0:
            raise ValueError("A2C: `rmsprop_decay` must be in [0.0, 1.0), got 1.0.")
        check_range("A2C", "rmsprop_eps", self.rmsprop_eps, low=0.0, high=inf, low_open=True)
        check_range("A2C", "learning_rate", self.learning_rate, low=0.0, high=inf, low_open=True)
        check_range("A2C", "gamma", self.gamma, low=0.0, high=1.0)
        check_range("A2C", "gae_lambda", self.gae_lambda, low=0.0, high=1.0)
        check_range("A2C", "ent_coef", self.ent_coef, low=0.0, high=inf)
        check_range("A2C", "vf_coef", self.vf_coef, low=0.0, high=inf)
        check_range("A2C", "max_grad_norm", self.max_grad_norm, low=0.0, high=inf, low_open=True)

    def _optimizer(self) -> optax.GradientTransformation:
        if self.use_rmsprop:
            return rmsprop_with_clipping(
                self.max_grad_norm, decay=self.rmsprop_decay, eps=self.rmsprop_eps
            )
        return adam_with_clipping(self.max_grad_norm, eps=_ADAM_EPS)

    def optimizer_settings(self) -> dict[str, Any]:
        schedule = "linear" if self.anneal_lr else "constant"
        if self.use_rmsprop:
            return {
                "optimizer": "rmsprop",
                "optimizer/eps": float(self.rmsprop_eps),
                "optimizer/decay": float(self.rmsprop_decay),
                "learning_rate_schedule": schedule,
            }
        return {"optimizer": "adam", "optimizer/eps": _ADAM_EPS, "learning_rate_schedule": schedule}

    def update(
        self,
        policy,
        opt_state,
        rollout: Rollout,
        advantages,
        returns,
        learning_rate,
        *,
        key=None,
        remaining=1.0,
    ):
        batch_size = self.num_envs * self.num_steps
        flat = jax.tree.map(
            lambda x: x.reshape((batch_size,) + x.shape[2:]),
            (rollout.observation, rollout.action, advantages, returns),
        )
        (_, metrics), grads = eqx.filter_value_and_grad(self._loss, has_aux=True)(policy, *flat)
        grads = eqx.filter(grads, trainable(policy, as_filter=True))
        policy, opt_state = apply_scaled_update(
            self._optimizer(), grads, opt_state, policy, learning_rate
        )
        return policy, opt_state, metrics

    def _loss(
        self,
        policy: AbstractActorCriticPolicy,
        observation: Array,
        action: Array,
        advantage: Float[Array, " batch"],
        returns: Float[Array, " batch"],
    ) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
        log_prob, entropy, value = jax.vmap(policy.evaluate_action)(observation, action)
        if self.normalize_advantages:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        policy_loss = -jnp.mean(jax.lax.stop_gradient(advantage) * log_prob)
        value_loss = jnp.mean((jax.lax.stop_gradient(returns) - value) ** 2)
        entropy_mean = entropy.mean()
        loss = policy_loss - self.ent_coef * entropy_mean + self.vf_coef * value_loss
        metrics = {
            "loss": loss,
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy_mean,
        }
        return loss, metrics
