from typing import Any

import equinox as eqx
import gymnasium as gym
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from _wrapper_rollout import rollout, vmapped_rollout

from lerax.env import AbstractEnv, AbstractEnvState, CartPole, Pendulum
from lerax.env.wrapper import (
    AutoReset,
    NormalizeObservation,
    NormalizeReward,
    TimeLimit,
    find_observation_normalization,
    has_observation_normalization,
    without_normalization,
)
from lerax.space import Box, Discrete

REWARDS = np.random.default_rng(0).normal(1.0, 2.0, 120).astype(np.float32)
TERMINATED = np.zeros(120, bool)
TERMINATED[[17, 50, 51, 90]] = True


class SequenceState(AbstractEnvState):
    t: jax.Array


class RewardSequence(AbstractEnv[SequenceState]):
    """Emits REWARDS[t] (scaled by env index-free constants) and TERMINATED[t]."""

    rewards: jax.Array
    terminated: jax.Array

    @property
    def name(self) -> str:
        return "RewardSequence"

    @property
    def observation_space(self) -> Box:
        return Box(-1.0, 1.0, shape=(1,))

    @property
    def action_space(self) -> Discrete:
        return Discrete(1)

    def reset(self, *, key):
        return SequenceState(jnp.zeros((), jnp.int32)), jnp.zeros(1)

    def step(self, state, action, *, key) -> tuple[Any, ...]:
        t = state.t
        return SequenceState(t + 1), jnp.zeros(1), self.rewards[t], self.terminated[t], False, {}

    def render(self, state, *, width=600, height=400):
        return jnp.zeros((height, width, 3), jnp.uint8)


class GymRewardSequence(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(1)

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        t, self.t = self.t, self.t + 1
        return np.zeros(1, np.float32), float(REWARDS[t]), bool(TERMINATED[t]), False, {}


def _raw_observations(inner, keys, num_steps):
    """The inner env's observations for the same keys (wrappers pass keys through).

    Returns all observations `(envs, T + 1, d)` and the final observations `(envs, T, d)`.
    """
    first, _, (obs, _, _, _, info) = vmapped_rollout(inner, keys, num_steps)
    observations = np.concatenate([np.asarray(first)[:, None], np.asarray(obs)], axis=1)
    return observations, np.asarray(info.get("final_observation", obs))


def test_pooled_statistics_equal_numpy_and_identical_across_envs(getkey):
    inner = AutoReset(TimeLimit(CartPole(), 20))
    env = NormalizeObservation(inner, axis_name="envs")
    keys = jr.split(getkey(), 8)
    first, final_state, (obs, _, _, _, info) = vmapped_rollout(env, keys, 40, "envs")
    raw, raw_final = _raw_observations(inner, keys, 40)
    stats = final_state.statistics
    for field in (stats.mean, stats.var, stats.count):
        np.testing.assert_array_equal(field, np.broadcast_to(field[0], field.shape))
    flat = raw.reshape(-1, 4).astype(np.float64)
    np.testing.assert_allclose(stats.mean[0], flat.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats.var[0], flat.var(0), rtol=1e-4, atol=1e-7)
    assert float(stats.count[0]) == 8 * 41
    # The last observation is normalised with the final statistics.
    expected = (raw[:, -1] - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-8)
    np.testing.assert_allclose(obs[:, -1], np.clip(expected, -10, 10), rtol=1e-3, atol=1e-3)
    # final_observation is normalised too (with the same statistics).
    final_raw = raw_final[:, -1]
    np.testing.assert_allclose(
        info["final_observation"][:, -1],
        np.clip((final_raw - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-8), -10, 10),
        rtol=1e-3,
        atol=1e-3,
    )


def test_per_env_statistics_without_axis_name(getkey):
    inner = AutoReset(TimeLimit(CartPole(), 20))
    env = NormalizeObservation(inner, clip=1.5)
    keys = jr.split(getkey(), 8)
    _, final_state, (obs, *_) = vmapped_rollout(env, keys, 40)
    raw = _raw_observations(inner, keys, 40)[0].astype(np.float64)
    np.testing.assert_allclose(final_state.statistics.mean, raw.mean(1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(final_state.statistics.var, raw.var(1), rtol=1e-3, atol=1e-5)
    assert not np.allclose(final_state.statistics.mean[0], final_state.statistics.mean[1])
    assert np.max(np.abs(np.asarray(obs))) <= 1.5


def _np_normalized_rewards(gamma=0.99, epsilon=1e-8, clip=10.0):
    """Gymnasium's formula with empty initial statistics, in float64."""
    g, count, mean, m2, out = 0.0, 0, 0.0, 0.0, []
    for reward, terminated in zip(REWARDS.astype(np.float64), TERMINATED, strict=True):
        g = g * gamma * (1 - terminated) + reward
        count += 1
        delta = g - mean
        mean += delta / count
        m2 += delta * (g - mean)
        out.append(np.clip(reward / np.sqrt(m2 / count + epsilon), -clip, clip))
    return np.array(out)


def test_normalized_rewards_match_formula_and_gymnasium(getkey):
    env = NormalizeReward(RewardSequence(jnp.asarray(REWARDS), jnp.asarray(TERMINATED)))
    _, final_state, (_, reward, *_) = rollout(env, getkey(), 120)
    np.testing.assert_allclose(reward, _np_normalized_rewards(), rtol=1e-4, atol=1e-5)
    # Gymnasium's own wrapper (prior count 1e-4, no clip) agrees once warmed up.
    gym_env = gym.wrappers.NormalizeReward(GymRewardSequence(), gamma=0.99, epsilon=1e-8)
    gym_env.reset(seed=0)
    gym_rewards = np.array([gym_env.step(0)[1] for _ in range(120)])
    np.testing.assert_allclose(np.asarray(reward)[20:], gym_rewards[20:], rtol=1e-3)
    assert float(final_state.statistics.var) == pytest.approx(gym_env.return_rms.var, rel=1e-3)


def test_pooled_reward_statistics(getkey):
    scales = jnp.array([1.0, 3.0, 0.5])
    envs = jax.vmap(lambda s: RewardSequence(jnp.asarray(REWARDS) * s, jnp.asarray(TERMINATED)))(
        scales
    )
    run = eqx.filter_jit(
        jax.vmap(lambda e, k: rollout(NormalizeReward(e, axis_name="i"), k, 60), axis_name="i")
    )
    _, final_state, (_, reward, *_) = run(envs, jr.split(getkey(), 3))
    stats = final_state.statistics
    np.testing.assert_array_equal(stats.var, np.full(3, stats.var[0]))
    # Same statistics, so rewards keep their relative scale across envs.
    np.testing.assert_allclose(reward[1], 3.0 * reward[0], rtol=1e-4, atol=1e-5)
    returns = np.zeros((3, 60))
    g = np.zeros(3)
    for t in range(60):
        g = g * 0.99 * (1 - TERMINATED[t]) + REWARDS[t] * np.asarray(scales)
        returns[:, t] = g
    assert float(stats.var[0]) == pytest.approx(returns.var(), rel=1e-3)
    assert float(stats.count[0]) == 180


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="`epsilon`"):
        NormalizeObservation(Pendulum(), epsilon=0.0)
    with pytest.raises(ValueError, match="`clip`"):
        NormalizeObservation(Pendulum(), clip=-1.0)
    with pytest.raises(ValueError, match="`gamma`"):
        NormalizeReward(Pendulum(), gamma=1.5)
    with pytest.raises(ValueError, match="`epsilon`"):
        NormalizeReward(Pendulum(), epsilon=-1e-8)


def test_gamma_sweep_does_not_retrace(getkey):
    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def run(env, key):
        return rollout(env, key, 5)[2][1]

    for gamma in (0.9, 0.99, 0.999):
        run(NormalizeReward(Pendulum(), gamma=gamma), getkey())


def test_statistics_survive_an_outer_auto_reset(getkey):
    # AutoReset outermost (as an algorithm may add it): episodes restart through
    # `reset_episode`, which keeps the pooled statistics.
    raw_env = AutoReset(TimeLimit(CartPole(), 20))
    env = AutoReset(NormalizeObservation(TimeLimit(CartPole(), 20), axis_name="envs"))
    keys = jr.split(getkey(), 8)
    _, final_state, (obs, _, terminated, truncated, _) = vmapped_rollout(env, keys, 40, "envs")
    raw, raw_final = _raw_observations(raw_env, keys, 40)
    assert np.asarray(terminated | truncated).sum() >= 10
    stats = final_state.env_state.statistics
    np.testing.assert_array_equal(stats.mean, np.broadcast_to(stats.mean[0], stats.mean.shape))
    # Merged: each env's first observation and every stepped (pre-reset) observation.
    seen = np.concatenate([raw[:, 0], raw_final.reshape(-1, 4)]).astype(np.float64)
    assert float(stats.count[0]) == len(seen) == 8 * 41
    np.testing.assert_allclose(stats.mean[0], seen.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats.var[0], seen.var(0), rtol=1e-4, atol=1e-7)
    expected = np.clip((raw[:, -1] - seen.mean(0)) / np.sqrt(seen.var(0) + 1e-8), -10, 10)
    np.testing.assert_allclose(obs[:, -1], expected, rtol=1e-3, atol=1e-3)


def test_pooled_per_env_statistics_are_those_of_every_value_seen(getkey):
    inner = AutoReset(TimeLimit(CartPole(), 20))
    keys = jr.split(getkey(), 8)
    _, final_state, _ = vmapped_rollout(NormalizeObservation(inner), keys, 40)
    raw = _raw_observations(inner, keys, 40)[0].astype(np.float64)
    every = raw.reshape(-1, raw.shape[-1])  # 8 envs x 41 observations
    pooled = final_state.statistics.pooled()
    assert pooled.mean.shape == (4,) and float(pooled.count) == every.shape[0] == 328
    np.testing.assert_allclose(pooled.mean, every.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pooled.var, every.var(0), rtol=1e-3, atol=1e-5)
    one = jax.tree.map(lambda x: x[3], final_state.statistics)
    assert one.pooled() is one  # unbatched statistics are already one set


def test_normalize_reward_reports_the_raw_reward_of_the_innermost_layer(getkey):
    sequence = RewardSequence(jnp.asarray(REWARDS), jnp.asarray(TERMINATED))
    _, _, (_, reward, _, _, info) = rollout(NormalizeReward(sequence), getkey(), 60)
    np.testing.assert_array_equal(info["raw_reward"], REWARDS[:60])
    assert not np.allclose(reward, REWARDS[:60])  # the scaled reward differs
    twice = NormalizeReward(NormalizeReward(sequence, gamma=0.5), gamma=0.9)
    _, _, (_, reward, _, _, info) = rollout(twice, getkey(), 60)
    np.testing.assert_array_equal(info["raw_reward"], REWARDS[:60])
    _, _, (_, _, _, _, info) = rollout(sequence, getkey(), 5)
    assert "raw_reward" not in info


def test_without_normalization_removes_only_the_normalisation_layers(getkey):
    env = TimeLimit(NormalizeObservation(NormalizeReward(TimeLimit(CartPole(), 50))), 30)
    plain = without_normalization(env)
    assert [type(e) for e in (plain, plain.env, plain.env.env)] == [TimeLimit, TimeLimit, CartPole]
    assert plain.max_episode_steps == 30 and plain.env.max_episode_steps == 50
    assert has_observation_normalization(env) and not has_observation_normalization(plain)
    assert not has_observation_normalization(NormalizeReward(CartPole()))
    assert without_normalization(CartPole()) == CartPole()
    state, _ = env.reset(key=getkey())
    layer, layer_state = find_observation_normalization(env, state)
    assert layer is env.env and layer_state is state.env_state
    assert find_observation_normalization(plain, plain.reset(key=getkey())[0]) is None
