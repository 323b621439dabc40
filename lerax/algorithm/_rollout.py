"""On-policy experience collection (PPO, A2C)."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, Key

from lerax.callback import AbstractCallback, record_episodes
from lerax.policy import exploration_keys

from ._gae import compute_gae
from ._step import step_envs
from ._train_state import TrainState


class Rollout(eqx.Module):
    """A batch of on-policy experience, leading axes `(num_steps, num_envs)`."""

    observation: Array
    action: Array
    log_prob: Float[Array, "num_steps num_envs"]
    value: Float[Array, "num_steps num_envs"]
    reward: Float[Array, "num_steps num_envs"]
    done: Bool[Array, "num_steps num_envs"]
    terminated: Bool[Array, "num_steps num_envs"]
    truncated: Bool[Array, "num_steps num_envs"]
    final_observation: Array


def collect_rollout(
    state: TrainState,
    callback: AbstractCallback,
    num_steps: int,
    *,
    key: Key[Array, ""],
    callback_key: Key[Array, ""],
) -> tuple[TrainState, Rollout, Float[Array, " num_envs"]]:
    """Act `num_steps` times in every env with the current policy.

    Updates the state's env state, observation, callback step states and counters.

    Returns:
        `(state, rollout, last_value)` where `last_value` is the critic's value of the
        observation after the last step.
    """
    policy, env = state.policy, state.env
    num_envs = state.observation.shape[0]

    act_keys, env_keys = jr.split(key, (2, num_steps, num_envs))
    act_keys = exploration_keys(policy, act_keys)  # gSDE: one noise draw per period
    callback_keys = jr.split(callback_key, (num_steps, num_envs))

    def one_step(carry, step_keys):
        env_state, observation, cb_step_state, num_timesteps = carry
        act_key, env_key, cb_key = step_keys
        action, log_prob = jax.vmap(lambda o, k: policy.action_and_log_prob(o, key=k))(
            observation, act_key
        )
        env_state, next_obs, tr, cb_step_state = step_envs(
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
        done = tr.terminated | tr.truncated
        out = Rollout(
            observation=observation,
            action=action,
            log_prob=log_prob,
            value=None,  # filled in below, for the whole rollout at once
            reward=tr.reward,
            done=done,
            terminated=tr.terminated,
            truncated=tr.truncated,
            final_observation=tr.next_observation,
        )
        return (env_state, next_obs, cb_step_state, num_timesteps + num_envs), (out, tr.raw_reward)

    carry = (state.env_state, state.observation, state.callback_step_state, state.num_timesteps)
    (env_state, observation, cb_step_state, num_timesteps), (rollout, raw_reward) = jax.lax.scan(
        one_step, carry, (act_keys, env_keys, callback_keys)
    )
    values, last_value = _critic_values(policy, rollout.observation, observation)
    rollout = dataclasses.replace(rollout, value=values)
    state = dataclasses.replace(
        state,
        env_state=env_state,
        observation=observation,
        callback_step_state=cb_step_state,
        num_timesteps=num_timesteps,
        num_episodes=state.num_episodes + jnp.sum(rollout.done, dtype=jnp.int32),
    )
    return record_rollout_episodes(state, raw_reward, rollout.done), rollout, last_value


def record_rollout_episodes(
    state: TrainState,
    reward: Float[Array, "num_steps num_envs"],
    done: Bool[Array, "num_steps num_envs"],
) -> TrainState:
    """`state` with the rollout's episode statistics (`lerax.callback.record_episodes`),
    computed once for every callback after the rollout."""
    episodes, progress = record_episodes(state.episode_progress, reward, done)
    return dataclasses.replace(state, episodes=episodes, episode_progress=progress)


def _critic_values(
    policy, observations: Array, last_observation: Array
) -> tuple[Float[Array, "num_steps num_envs"], Float[Array, " num_envs"]]:
    """The critic's values of every rollout observation and of the one after the last
    step, in ONE batched pass after the rollout.

    The values do not influence the actions, so they need not be computed step by step
    inside the rollout's scan: one `[(num_steps + 1) * num_envs]`-row pass replaces
    `num_steps` tiny per-step passes (on XLA:CPU each layer of each step is its own
    small kernel; the gain on PPO CartPole is measured in `benchmarks/README.md`).
    """
    steps, envs = observations.shape[:2]
    every = jnp.concatenate([observations, last_observation[None]], axis=0)
    flat = every.reshape(((steps + 1) * envs,) + every.shape[2:])
    values = jax.vmap(policy.value)(flat).reshape(steps + 1, envs)
    return values[:-1], values[-1]


def bootstrap_truncated(
    rollout: Rollout, value_fn, gamma: Float[Array, ""]
) -> Float[Array, "num_steps num_envs"]:
    """Rewards with `gamma * V(final observation)` added where an episode was truncated
    (and not terminated), so time limits do not look like terminal states."""
    steps, envs = rollout.reward.shape
    bootstrap = rollout.truncated & ~rollout.terminated

    def final_values(final_observation):
        flat = final_observation.reshape((steps * envs,) + final_observation.shape[2:])
        return jax.vmap(value_fn)(flat).reshape(steps, envs)

    def no_values(final_observation):
        return jnp.zeros((steps, envs), rollout.reward.dtype)

    # Time limits are rare (none at all until a policy is good): skip the critic pass
    # over the whole batch when no step of this rollout was truncated. (Under vmap the
    # cond becomes a select and both run, as before.)
    values = jax.lax.cond(jnp.any(bootstrap), final_values, no_values, rollout.final_observation)
    return rollout.reward + gamma * values * bootstrap


StepsByEnvs = Float[Array, "num_steps num_envs"]


def collect_advantages(
    state: TrainState,
    callback: AbstractCallback,
    num_steps: int,
    gamma: Float[Array, ""],
    gae_lambda: Float[Array, ""],
    *,
    key: Key[Array, ""],
    callback_key: Key[Array, ""],
) -> tuple[TrainState, Rollout, StepsByEnvs, StepsByEnvs]:
    """The on-policy algorithms' first half: `collect_rollout`, truncations
    bootstrapped with the critic (`bootstrap_truncated`), then GAE.

    Returns:
        `(state, rollout, advantages, returns)`.
    """
    state, rollout, last_value = collect_rollout(
        state, callback, num_steps, key=key, callback_key=callback_key
    )
    rewards = bootstrap_truncated(rollout, state.policy.value, gamma)
    advantages, returns = compute_gae(
        rewards, rollout.value, rollout.done, last_value, gamma, gae_lambda
    )
    return state, rollout, advantages, returns
