"""The on-policy loop (PPO, A2C): roll out, bootstrap and GAE, then update."""

from __future__ import annotations

import abc
import dataclasses

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Float, Key, PyTree

from lerax.callback import AbstractCallback
from lerax.env import AbstractEnv
from lerax.policy import AbstractActorCriticPolicy, AbstractPolicy

from ._abstract import AbstractAlgorithm
from ._gae import explained_variance
from ._optim import linear_annealing, trainable
from ._rollout import Rollout, collect_advantages
from ._train_state import EmptyAlgorithmState, TrainState

StepsByEnvs = Float[Array, "num_steps num_envs"]


class AbstractOnPolicyAlgorithm(AbstractAlgorithm):
    """A partial base that implements the on-policy iteration.

    One iteration:

    1. `num_steps` vectorised steps in each of `num_envs` envs with the current
       policy (`lerax.algorithm.collect_rollout`; `callback.on_step` runs once per
       env step);
    2. time-limit truncations bootstrapped with the critic's value of the true final
       observation, then GAE advantages and returns (`gamma`, `gae_lambda`);
    3. the learning rate of this iteration: `learning_rate`, annealed linearly to 0
       over the planned iterations when `anneal_lr`;
    4. `update` on the whole rollout.

    The training log holds `update`'s metrics, `learning_rate` and
    `explained_variance` (of the critic's values for the returns).

    Keys: with `update_uses_key`, the iteration key is split into the rollout's key
    and `update`'s; without it (an update that draws nothing), the rollout gets the
    whole iteration key and `update` gets None.

    Subclasses define the fields below, `update_uses_key`, `_optimizer` (the optax
    optimizer, without its step size) and `update`.
    """

    num_envs: eqx.AbstractVar[int]
    num_steps: eqx.AbstractVar[int]
    learning_rate: eqx.AbstractVar[Float[Array, ""]]
    anneal_lr: eqx.AbstractVar[bool]
    gamma: eqx.AbstractVar[Float[Array, ""]]
    gae_lambda: eqx.AbstractVar[Float[Array, ""]]
    update_uses_key: eqx.AbstractClassVar[bool]

    # --------------------------------------------------------- the subclass's part

    @abc.abstractmethod
    def _optimizer(self) -> optax.GradientTransformation:
        """The optimizer's gradient transformation; the (possibly annealed) step size
        is applied separately (`lerax.algorithm._optim.apply_scaled_update`)."""

    @abc.abstractmethod
    def update(
        self,
        policy: AbstractActorCriticPolicy,
        opt_state: PyTree,
        rollout: Rollout,
        advantages: StepsByEnvs,
        returns: StepsByEnvs,
        learning_rate: Float[Array, ""],
        *,
        key: Key[Array, ""] | None,
        remaining: Float[Array, ""] | float = 1.0,
    ) -> tuple[AbstractActorCriticPolicy, PyTree, dict[str, Array]]:
        """The gradient steps of one iteration on its rollout.

        Args:
            policy: The policy that collected `rollout`.
            opt_state: The optimizer state.
            rollout: The iteration's experience, leading axes `(num_steps, num_envs)`.
            advantages: GAE advantages, `(num_steps, num_envs)`.
            returns: The critic's targets (advantages + values), `(num_steps, num_envs)`.
            learning_rate: This iteration's step size.
            key: PRNG key of the update (None unless `update_uses_key`).
            remaining: The fraction of the planned iterations still to run, this one
                included (1 at the first, `1 / total_iterations` at the last): what a
                linearly annealed hyper-parameter (the learning rate, PPO's clip range
                with `anneal_clip`) is multiplied by.

        Returns:
            `(policy, opt_state, metrics)`, metrics a flat dict of scalar arrays.
        """

    # --------------------------------------------------------- the driver's part

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.num_steps

    def init_algorithm(
        self, env: AbstractEnv, policy: AbstractPolicy, *, key: Key[Array, ""]
    ) -> tuple[PyTree, EmptyAlgorithmState]:
        if not isinstance(policy, AbstractActorCriticPolicy):
            raise TypeError(
                f"{type(self).__name__} needs an AbstractActorCriticPolicy, "
                f"got {type(policy).__name__}."
            )
        return self._optimizer().init(trainable(policy)), EmptyAlgorithmState()

    def iteration(
        self,
        state: TrainState,
        callback: AbstractCallback,
        *,
        key: Key[Array, ""],
        callback_key: Key[Array, ""],
    ) -> tuple[TrainState, dict[str, Array]]:
        if self.update_uses_key:
            rollout_key, update_key = jr.split(key)
        else:
            rollout_key, update_key = key, None
        state, rollout, advantages, returns = collect_advantages(
            state,
            callback,
            self.num_steps,
            self.gamma,
            self.gae_lambda,
            key=rollout_key,
            callback_key=callback_key,
        )
        remaining = linear_annealing(
            jnp.asarray(1.0, jnp.float32), state.iteration, state.total_iterations
        )
        learning_rate = self.learning_rate * remaining if self.anneal_lr else self.learning_rate
        policy, opt_state, metrics = self.update(
            state.policy,
            state.opt_state,
            rollout,
            advantages,
            returns,
            learning_rate,
            key=update_key,
            remaining=remaining,
        )
        metrics["learning_rate"] = learning_rate
        metrics["explained_variance"] = explained_variance(rollout.value, returns)
        return dataclasses.replace(state, policy=policy, opt_state=opt_state), metrics
