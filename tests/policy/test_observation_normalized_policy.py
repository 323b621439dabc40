"""ObservationNormalizedPolicy / freeze_normalization: a policy trained behind
NormalizeObservation acting on raw observations, saved, loaded and exported."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.algorithm import PPO
from lerax.env import CartPole, Pendulum
from lerax.env.wrapper import (
    AutoReset,
    NormalizeObservation,
    NormalizeReward,
    RunningMeanStd,
    without_normalization,
)
from lerax.policy import (
    MLPActorCriticPolicy,
    ObservationNormalizedPolicy,
    export_inference,
    freeze_normalization,
    load_policy,
    save_policy,
)

STATS = RunningMeanStd(
    jnp.array([0.5, -1.0, 0.1, 2.0]), jnp.array([4.0, 0.25, 1.0, 9.0]), jnp.asarray(100.0)
)


def _wrapped(clip=10.0):
    inner = MLPActorCriticPolicy(env=NormalizeObservation(CartPole()), key=jr.key(0))
    space = CartPole().observation_space
    return inner, ObservationNormalizedPolicy(inner, STATS, observation_space=space, clip=clip)


def test_predict_is_the_inner_policy_on_the_normalised_observation():
    inner, policy = _wrapped(clip=1.5)
    observation = jnp.array([2.5, -1.0, 5.0, -7.0])
    by_hand = (np.array([2.5, -1.0, 5.0, -7.0]) - STATS.mean) / np.sqrt(STATS.var + 1e-8)
    by_hand = np.clip(by_hand, -1.5, 1.5)  # [1.0, 0.0, 1.5 (clipped), -1.5 (clipped)]
    np.testing.assert_allclose(policy.normalize(observation), [1.0, 0.0, 1.5, -1.5], atol=1e-6)
    np.testing.assert_allclose(policy.normalize(observation), by_hand, atol=1e-6)
    for key in (None, jr.key(3)):
        expected = inner.predict(jnp.asarray(by_hand, jnp.float32), key=key)
        assert int(policy.predict(observation, key=key)) == int(expected)
    assert policy.observation_space == CartPole().observation_space
    assert policy.action_space == inner.action_space


def test_construction_errors_name_the_argument():
    inner, _ = _wrapped()
    space = CartPole().observation_space
    with pytest.raises(TypeError, match="`policy` must be a AbstractPolicy, got str"):
        ObservationNormalizedPolicy("policy", STATS, observation_space=space)
    with pytest.raises(TypeError, match="`statistics` must be a RunningMeanStd"):
        ObservationNormalizedPolicy(inner, (STATS.mean, STATS.var), observation_space=space)
    with pytest.raises(TypeError, match="`observation_space` must be a AbstractSpace"):
        ObservationNormalizedPolicy(inner, STATS, observation_space=(4,))
    batched = jax.tree.map(lambda x: jnp.stack([x, x]), STATS)
    with pytest.raises(ValueError, match=r"observation shape \(4,\), got \(2, 4\).*pooled"):
        ObservationNormalizedPolicy(inner, batched, observation_space=space)


def test_saved_and_loaded_without_a_template_and_exported(tmp_path):
    _, policy = _wrapped()
    save_policy(tmp_path / "p", policy)
    loaded = load_policy(tmp_path / "p")
    assert type(loaded) is ObservationNormalizedPolicy
    np.testing.assert_array_equal(loaded.statistics.var, STATS.var)
    observations = jr.normal(jr.key(1), (16, 4)) * 3.0
    act = export_inference(loaded)
    expected = jax.vmap(policy.predict)(observations)
    np.testing.assert_array_equal(act(observations), expected)


def test_freeze_normalization_of_a_training_run():
    env = NormalizeObservation(NormalizeReward(Pendulum()))
    algo = PPO(num_envs=4, num_steps=32, num_minibatches=2, num_epochs=1)
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    state = algo.train(algo.init(env, policy, 4 * 32 * 3, key=jr.key(1)))
    deployed = state.deployable_policy()
    assert type(deployed) is ObservationNormalizedPolicy and deployed.policy is state.policy
    per_env = state.env_state.env_state.statistics  # AutoReset -> NormalizeObservation
    assert per_env.count.shape == (4,)
    assert float(deployed.statistics.count) == float(per_env.count.sum()) == 4 * (1 + 96)
    np.testing.assert_allclose(deployed.statistics.mean, per_env.pooled().mean)
    assert deployed.observation_space == Pendulum().observation_space
    # Acting on a raw observation is the trained policy on its normalised form.
    raw = jnp.array([0.3, -0.8, 2.0])
    normalised = (raw - deployed.statistics.mean) / jnp.sqrt(deployed.statistics.var + 1e-8)
    np.testing.assert_allclose(deployed.predict(raw), state.policy.predict(normalised), rtol=1e-5)
    # Without a NormalizeObservation layer the policy is returned as it is.
    assert freeze_normalization(policy, AutoReset(Pendulum()), None) is policy
    assert without_normalization(env) == Pendulum()
