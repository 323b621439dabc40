"""On-policy collection: per-step actions, critic values of the whole rollout."""

from __future__ import annotations

import jax
import jax.random as jr
import numpy as np
import pytest

from lerax.algorithm import PPO, collect_rollout
from lerax.callback import as_callback
from lerax.env import CartPole, Pendulum
from lerax.policy import MLPActorCriticPolicy


def _collect(env, steps=24):
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo = PPO(num_envs=3, num_steps=steps, num_minibatches=2)
    callback = as_callback(None)
    state = algo.init(env, policy, 3 * steps * 2, key=jr.key(1), callback=callback)
    new_state, rollout, last_value = jax.jit(
        lambda s: collect_rollout(s, callback, steps, key=jr.key(2), callback_key=jr.key(3))
    )(state)
    return policy, state, new_state, rollout, last_value


def test_rollout_values_are_the_critics_values_of_the_observations_acted_on():
    # The values are computed in one batched pass after the scan; they must still
    # belong to the observation each action was chosen on (not the next one), and the
    # last value to the observation after the final step.
    policy, state, new_state, rollout, last_value = _collect(CartPole())
    expected = jax.vmap(jax.vmap(policy.value))(rollout.observation)
    np.testing.assert_allclose(rollout.value, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        last_value, jax.vmap(policy.value)(new_state.observation), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(rollout.observation[0], state.observation)
    # Consecutive observations differ, so a shifted assignment would fail above.
    assert not np.allclose(rollout.value[1:], rollout.value[:-1])


@pytest.mark.parametrize("env", [CartPole(), Pendulum()], ids=["discrete", "continuous"])
def test_rollout_log_probs_are_the_actors_log_probs_of_the_actions_taken(env):
    policy, _, _, rollout, _ = _collect(env, steps=16)
    expected = jax.vmap(jax.vmap(lambda o, a: policy.distribution(o).log_prob(a)))(
        rollout.observation, rollout.action
    )
    np.testing.assert_allclose(rollout.log_prob, expected, rtol=1e-5, atol=1e-5)


def test_action_and_log_prob_matches_action_and_value():
    env = Pendulum()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    observation = env.observation_space.sample(key=jr.key(1))
    action, log_prob = policy.action_and_log_prob(observation, key=jr.key(2))
    action2, log_prob2, value = policy.action_and_value(observation, key=jr.key(2))
    np.testing.assert_array_equal(action, action2)
    np.testing.assert_array_equal(log_prob, log_prob2)
    np.testing.assert_allclose(value, policy.value(observation), rtol=1e-6)
    assert not np.array_equal(action, policy.action_and_log_prob(observation, key=jr.key(3))[0])


@pytest.mark.parametrize("sample_freq", [-1, 5])
def test_a_gsde_rollout_keeps_its_exploration_weights_over_each_period(sample_freq):
    from lerax.policy import GSDEActorCriticPolicy

    env, steps = Pendulum(), 20
    policy = GSDEActorCriticPolicy(
        env=env, key=jr.key(0), hidden=(16, 3), log_std_init=-0.5, sample_freq=sample_freq
    )
    algo = PPO(num_envs=2, num_steps=steps, num_minibatches=1)
    callback = as_callback(None)
    state = algo.init(env, policy, 3 * steps * 2, key=jr.key(1), callback=callback)
    _, rollout, _ = jax.jit(
        lambda s: collect_rollout(s, callback, steps, key=jr.key(2), callback_key=jr.key(3))
    )(state)
    obs = rollout.observation.reshape(-1, 3)
    means = jax.vmap(policy.predict)(obs).reshape(steps, 2)
    features = jax.vmap(lambda o: policy.actor.features(o))(obs).reshape(steps, 2, 3)
    noise = np.asarray(rollout.action[..., 0] - means)
    period = steps if sample_freq < 0 else sample_freq
    for env_index in range(2):
        thetas = []
        for start in range(0, steps, period):
            phi = np.asarray(features[start : start + period, env_index])
            theta, *_ = np.linalg.lstsq(phi, noise[start : start + period, env_index], rcond=None)
            # One weight vector explains every step of the period (3 unknowns, 5 or 20 steps).
            np.testing.assert_allclose(
                phi @ theta, noise[start : start + period, env_index], atol=1e-4
            )
            thetas.append(theta)
        if len(thetas) > 1:
            assert not np.allclose(thetas[0], thetas[1], atol=1e-3)  # a new draw per period
