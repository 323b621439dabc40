"""The off-policy loop (DQN, SAC): act, store in a replay buffer, learn from samples."""

from __future__ import annotations

import abc
import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Int, Key, PyTree

from lerax._checks import check_int
from lerax.callback import AbstractCallback
from lerax.env import AbstractEnv
from lerax.policy import AbstractPolicy, exploration_keys

from ._abstract import AbstractAlgorithm
from ._replay_buffer import ReplayBatch, ReplayBuffer
from ._rollout import record_rollout_episodes
from ._step import step_envs
from ._train_state import AbstractAlgorithmState, TrainState


class OffPolicyState(AbstractAlgorithmState):
    """What an off-policy algorithm carries between iterations.

    Attributes:
        buffer: The replay buffer.
        learner: The algorithm's own state (target networks, entropy temperature, ...).
        num_updates: Gradient steps taken so far.
    """

    buffer: ReplayBuffer
    learner: PyTree
    num_updates: Int[Array, ""]


class AbstractOffPolicyAlgorithm(AbstractAlgorithm):
    """A partial base that implements the off-policy iteration.

    One iteration:

    1. `train_freq` vectorised env steps (each through `lerax.algorithm.step_envs`,
       so `callback.on_step` runs once per env step, learning-starts steps
       included). Before `learning_starts` env steps were taken, actions are drawn
       uniformly from the env's action space; afterwards they come from
       `behaviour_policy(...).predict(observation, key=...)`. The acting policy is
       the one stored in the `TrainState` (callbacks see it).
    2. The `num_envs * train_freq` transitions are added to the replay buffer (in
       `algorithm_state.buffer`), with the true final observation of a finished
       episode and `terminated` (time limits are bootstrapped).
    3. If the buffer holds at least `learning_starts` transitions (in a fresh run:
       once `learning_starts` env steps were taken), `gradient_steps` updates, each
       on a fresh uniform sample of `batch_size` transitions (`lax.cond`; under
       `vmap` both branches run and a select picks). A buffer lost on resume (a
       checkpoint saved without it) is refilled before updates resume.

    Counters: `num_timesteps` grows by `num_envs * train_freq` env steps per
    iteration; `num_episodes` by the episodes that ended (terminated or truncated).

    The training log holds the mean over the iteration's gradient steps of the
    update's metrics (0.0 when no update ran: before learning starts), the
    algorithm's `learner_metrics` and `buffer_size`; every value is finite.

    Subclasses implement `init_learner`, `behaviour_policy`, `update` and
    `learner_metrics`, and define the fields below.
    """

    num_envs: eqx.AbstractVar[int]
    buffer_size: eqx.AbstractVar[int]
    batch_size: eqx.AbstractVar[int]
    learning_starts: eqx.AbstractVar[int]
    train_freq: eqx.AbstractVar[int]
    gradient_steps: eqx.AbstractVar[int]

    # --------------------------------------------------------- the subclass's part

    @abc.abstractmethod
    def init_learner(
        self, env: AbstractEnv, policy: AbstractPolicy, *, key: Key[Array, ""]
    ) -> tuple[PyTree, PyTree]:
        """Check the policy and create `(opt_state, learner)`.

        Raises:
            TypeError: if `policy` is not of a kind the algorithm trains.
        """

    @abc.abstractmethod
    def behaviour_policy(
        self,
        policy: AbstractPolicy,
        learner: PyTree,
        num_timesteps: Int[Array, ""],
        total_timesteps: Int[Array, ""],
    ) -> AbstractPolicy:
        """The policy that acts during the coming iteration (e.g. DQN sets its
        exploration `epsilon` from the schedule). Called once per iteration with the
        env steps taken so far and the run's planned budget."""

    @abc.abstractmethod
    def update(
        self,
        policy: AbstractPolicy,
        opt_state: PyTree,
        learner: PyTree,
        batch: ReplayBatch,
        num_updates: Int[Array, ""],
        *,
        key: Key[Array, ""],
    ) -> tuple[AbstractPolicy, PyTree, PyTree, dict[str, Array]]:
        """One gradient step on `batch`, including the target-network update.

        Args:
            policy: The policy being trained.
            opt_state: The optimizer state.
            learner: The algorithm's own state.
            batch: `batch_size` transitions sampled uniformly from the buffer.
            num_updates: Gradient steps taken, counting this one.
            key: PRNG key of this gradient step.

        Returns:
            `(policy, opt_state, learner, metrics)`, metrics a flat dict of scalars.
        """

    @abc.abstractmethod
    def learner_metrics(self, policy: AbstractPolicy, learner: PyTree) -> dict[str, Array]:
        """Scalars logged every iteration whether or not an update ran
        (e.g. DQN's epsilon, SAC's entropy temperature)."""

    # --------------------------------------------------------- the driver's part

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.train_freq

    def init_algorithm(
        self, env: AbstractEnv, policy: AbstractPolicy, *, key: Key[Array, ""]
    ) -> tuple[PyTree, OffPolicyState]:
        opt_state, learner = self.init_learner(env, policy, key=key)
        buffer = ReplayBuffer.create(self.buffer_size, env.observation_space, env.action_space)
        return opt_state, OffPolicyState(buffer, learner, jnp.zeros((), jnp.int32))

    def iteration(
        self,
        state: TrainState,
        callback: AbstractCallback,
        *,
        key: Key[Array, ""],
        callback_key: Key[Array, ""],
    ) -> tuple[TrainState, dict[str, Array]]:
        collect_key, update_key = jr.split(key)
        algo: OffPolicyState = state.algorithm_state
        total = state.total_iterations * self.steps_per_iteration
        policy = self.behaviour_policy(state.policy, algo.learner, state.num_timesteps, total)
        state = dataclasses.replace(state, policy=policy)
        state, buffer = self._collect(state, algo.buffer, callback, collect_key, callback_key)

        def learn(operand):
            def one(carry, step_key):
                policy, opt_state, learner, num_updates = carry
                sample_key, step_key = jr.split(step_key)
                batch = buffer.sample(self.batch_size, key=sample_key)
                num_updates = num_updates + 1
                policy, opt_state, learner, metrics = self.update(
                    policy, opt_state, learner, batch, num_updates, key=step_key
                )
                return (policy, opt_state, learner, num_updates), metrics

            operand, metrics = jax.lax.scan(one, operand, jr.split(update_key, self.gradient_steps))
            return operand, jax.tree.map(jnp.mean, metrics)

        def skip(operand):
            shapes = jax.eval_shape(lambda op: learn(op)[1], operand)
            return operand, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

        operand = (state.policy, state.opt_state, algo.learner, algo.num_updates)
        started = buffer.size >= self.learning_starts
        (policy, opt_state, learner, num_updates), metrics = jax.lax.cond(
            started, learn, skip, operand
        )
        metrics = dict(metrics)
        metrics.update(self.learner_metrics(policy, learner))
        metrics["buffer_size"] = buffer.size.astype(jnp.float32)
        state = dataclasses.replace(
            state,
            policy=policy,
            opt_state=opt_state,
            algorithm_state=OffPolicyState(buffer, learner, num_updates),
        )
        return state, metrics

    def _collect(
        self,
        state: TrainState,
        buffer: ReplayBuffer,
        callback: AbstractCallback,
        key: Key[Array, ""],
        callback_key: Key[Array, ""],
    ) -> tuple[TrainState, ReplayBuffer]:
        policy, env = state.policy, state.env
        action_space = env.action_space
        keys = jr.split(key, (3, self.train_freq, self.num_envs))
        callback_keys = jr.split(callback_key, (self.train_freq, self.num_envs))

        def one_step(carry, step_keys):
            env_state, observation, cb_step_state, num_timesteps = carry
            act_key, random_key, env_key, cb_key = step_keys
            chosen = jax.vmap(lambda o, k: policy.predict(o, key=k))(observation, act_key)
            uniform = jax.vmap(lambda k: action_space.sample(key=k))(random_key)
            random_phase = num_timesteps < self.learning_starts
            action = jnp.where(random_phase, uniform, chosen.astype(uniform.dtype))
            env_state, next_obs, transition, cb_step_state = step_envs(
                env,
                env_state,
                observation,
                action,
                policy,
                callback,
                cb_step_state,
                state.iteration,
                num_timesteps,
                keys=env_key,
                callback_keys=cb_key,
            )
            carry = (env_state, next_obs, cb_step_state, num_timesteps + self.num_envs)
            return carry, transition

        carry = (state.env_state, state.observation, state.callback_step_state, state.num_timesteps)
        (env_state, observation, cb_step_state, num_timesteps), steps = jax.lax.scan(
            one_step, carry, (exploration_keys(policy, keys[0]), keys[1], keys[2], callback_keys)
        )
        flat = jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), steps)
        buffer = buffer.add(
            flat.observation, flat.action, flat.reward, flat.next_observation, flat.terminated
        )
        done = steps.terminated | steps.truncated
        state = dataclasses.replace(
            state,
            env_state=env_state,
            observation=observation,
            callback_step_state=cb_step_state,
            num_timesteps=num_timesteps,
            num_episodes=state.num_episodes + jnp.sum(done, dtype=jnp.int32),
        )
        return record_rollout_episodes(state, steps.raw_reward, done), buffer


def check_off_policy_sizes(algorithm: AbstractOffPolicyAlgorithm, owner: str) -> None:
    """Validate the static sizes every off-policy algorithm shares (call it from
    `__check_init__`).

    Raises:
        TypeError: for a size that is not an int.
        ValueError: for a size out of range, or a buffer too small.
    """
    for name in ("num_envs", "buffer_size", "batch_size", "train_freq", "gradient_steps"):
        check_int(owner, name, getattr(algorithm, name))
    check_int(owner, "learning_starts", algorithm.learning_starts, minimum=0)
    per_iteration = algorithm.num_envs * algorithm.train_freq
    if algorithm.buffer_size < per_iteration:
        raise ValueError(
            f"{owner}: `buffer_size` ({algorithm.buffer_size}) must be at least "
            f"num_envs * train_freq ({per_iteration}), the transitions of one iteration."
        )
    if algorithm.learning_starts > algorithm.buffer_size:
        raise ValueError(
            f"{owner}: `learning_starts` ({algorithm.learning_starts}) must be <= "
            f"`buffer_size` ({algorithm.buffer_size}), else learning never starts."
        )
