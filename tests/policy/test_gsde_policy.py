"""GSDEActorCriticPolicy: state-dependent exploration noise, its distribution, its
exploration periods, and training with it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.algorithm import PPO, SAC
from lerax.env import CartPole, MountainCarContinuous, Pendulum
from lerax.policy import (
    GSDEActorCriticPolicy,
    GSDESACActor,
    MLPSACPolicy,
    load_policy,
    save_policy,
)

OBS = jnp.array([0.3, -0.7, 1.5])


def _policy(**kwargs):
    return GSDEActorCriticPolicy(env=Pendulum(), key=jr.key(0), hidden=(8, 5), **kwargs)


def _features(policy, observation):
    x = np.asarray(observation, np.float64)
    for layer in policy.actor.layers[:-1]:
        x = np.tanh(x @ np.asarray(layer.kernel) + np.asarray(layer.bias))
    return x


def test_action_is_mean_plus_features_times_the_drawn_weights():
    policy = _policy(log_std_init=-1.0)
    assert policy.log_std.shape == (5, 1) and np.all(np.asarray(policy.log_std) == -1.0)
    phi = _features(policy, OBS)
    out = policy.actor.layers[-1]
    mean = phi @ np.asarray(out.kernel) + np.asarray(out.bias)
    theta = np.exp(-1.0) * np.asarray(jr.normal(jr.key(7), (5, 1)))
    action, log_prob = policy.action_and_log_prob(OBS, key=jr.key(7))
    np.testing.assert_allclose(action, mean + phi @ theta, rtol=1e-5, atol=1e-6)
    scale = np.sqrt(np.square(phi) @ np.exp(2 * np.asarray(policy.log_std)) + 1e-6)
    np.testing.assert_allclose(policy.distribution(OBS).marginal.scale, scale, rtol=1e-5)
    z = (np.asarray(action) - mean) / scale
    expected = np.sum(-0.5 * z**2 - np.log(scale) - 0.5 * np.log(2 * np.pi))
    assert float(log_prob) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(policy.predict(OBS), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(policy.predict(OBS, key=jr.key(7)), action, rtol=1e-6)


def test_one_draw_of_weights_gives_state_dependent_noise():
    policy = _policy()
    observations = jr.normal(jr.key(1), (6, 3))
    key = jr.key(2)
    actions = jax.vmap(lambda o: policy.predict(o, key=key))(observations)
    means = jax.vmap(policy.predict)(observations)
    phi = np.stack([_features(policy, o) for o in observations])
    # The same weights for every state: the noise is phi(s) @ theta for one theta.
    theta, *_ = np.linalg.lstsq(phi, np.asarray(actions - means), rcond=None)
    np.testing.assert_allclose(phi @ theta, actions - means, atol=1e-5)
    other = jax.vmap(lambda o: policy.predict(o, key=jr.key(3)))(observations)
    assert not np.allclose(other, actions)


@pytest.mark.parametrize(("sample_freq", "first"), [(-1, [0] * 7), (3, [0, 0, 0, 3, 3, 3, 6])])
def test_exploration_keys_repeat_over_a_period(sample_freq, first):
    policy = _policy(sample_freq=sample_freq)
    keys = jr.split(jr.key(0), (7, 2))
    repeated = policy.exploration_keys(keys)
    np.testing.assert_array_equal(jr.key_data(repeated), jr.key_data(keys)[np.asarray(first)])


def test_bad_arguments_name_the_argument():
    with pytest.raises(TypeError, match="accepted: Box with a floating dtype"):
        GSDEActorCriticPolicy(env=CartPole(), key=jr.key(0))
    with pytest.raises(ValueError, match="`sample_freq` must be a positive int or -1"):
        _policy(sample_freq=0)
    with pytest.raises(ValueError, match="`sample_freq` must be an int >= -1, got -2"):
        _policy(sample_freq=-2)
    with pytest.raises(TypeError, match="`log_std_init` must be a number, got 'low'"):
        _policy(log_std_init="low")


def test_trains_saves_and_loads(tmp_path):
    env = MountainCarContinuous()
    policy = GSDEActorCriticPolicy(env=env, key=jr.key(0), log_std_init=-1.0, sample_freq=4)
    algo = PPO(num_envs=2, num_steps=16, num_minibatches=1, num_epochs=2)
    trained = algo.learn(env, policy, 2 * 16 * 4, key=jr.key(1))
    assert not np.allclose(trained.log_std, policy.log_std)  # the noise scale is learned
    save_policy(tmp_path / "gsde", trained)
    loaded = load_policy(tmp_path / "gsde")
    assert type(loaded) is GSDEActorCriticPolicy and loaded.sample_freq == 4
    obs = jnp.array([-0.5, 0.01])
    np.testing.assert_array_equal(
        loaded.predict(obs, key=jr.key(5)), trained.predict(obs, key=jr.key(5))
    )


def _sac(**kwargs):
    return _sac_with(hidden=(8, 5), use_sde=True, **kwargs)


def test_sac_gsde_actor_samples_tanh_of_mean_plus_features_times_weights():
    policy = _sac(log_std_init=-1.5)
    actor = policy.actor
    assert type(actor) is GSDESACActor and actor.log_std.shape == (5, 1)
    x = np.asarray(OBS, np.float64)
    for layer in actor.network.layers[:-1]:
        x = np.maximum(x @ np.asarray(layer.kernel) + np.asarray(layer.bias), 0.0)  # relu
    out = actor.network.layers[-1]
    mean = np.clip(x @ np.asarray(out.kernel) + np.asarray(out.bias), -2.0, 2.0)
    theta = np.exp(-1.5) * np.asarray(jr.normal(jr.key(4), (5, 1)))
    unit, log_prob = actor.sample_and_log_prob(OBS, key=jr.key(4))
    np.testing.assert_allclose(unit, np.tanh(mean + x @ theta), rtol=1e-5, atol=1e-6)
    dist = actor(OBS)
    np.testing.assert_allclose(
        dist.scale, np.sqrt(x**2 @ np.full((5, 1), np.exp(-3.0)) + 1e-6), rtol=1e-5
    )
    assert float(log_prob) == pytest.approx(float(dist.log_prob(unit)), rel=1e-4)
    # Pendulum's actions are in [-2, 2]: the policy rescales the unit action.
    action, _ = policy.action_and_log_prob(OBS, key=jr.key(4))
    np.testing.assert_allclose(action, 2.0 * np.asarray(unit), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(policy.predict(OBS), 2.0 * np.tanh(mean), rtol=1e-5, atol=1e-6)
    keys = jr.split(jr.key(0), (6, 2))
    np.testing.assert_array_equal(
        jr.key_data(_sac(sample_freq=4).exploration_keys(keys)),
        jr.key_data(keys)[np.asarray([0, 0, 0, 0, 4, 4])],
    )
    plain = _sac_with(hidden=(8, 5))
    np.testing.assert_array_equal(jr.key_data(plain.exploration_keys(keys)), jr.key_data(keys))


def test_sac_gsde_arguments_are_checked():
    with pytest.raises(TypeError, match="`use_sde` must be"):
        _sac_with(use_sde="yes")
    with pytest.raises(ValueError, match="`sample_freq` must be a positive int or -1"):
        _sac(sample_freq=0)
    with pytest.raises(TypeError, match="`log_std_init` must be a number"):
        _sac(log_std_init=None)


def _sac_with(**kwargs):
    return MLPSACPolicy(env=Pendulum(), key=jr.key(0), **kwargs)


def test_sac_trains_with_gsde_and_round_trips(tmp_path):
    env = MountainCarContinuous()
    policy = MLPSACPolicy(
        env=env, key=jr.key(0), hidden=(16, 16), use_sde=True, log_std_init=-2.0, sample_freq=8
    )
    algo = SAC(buffer_size=1000, batch_size=32, learning_starts=64, train_freq=16, gradient_steps=4)
    trained = algo.learn(env, policy, 256, key=jr.key(1))
    assert not np.allclose(trained.actor.log_std, policy.actor.log_std)
    save_policy(tmp_path / "sac", trained)
    loaded = load_policy(tmp_path / "sac")
    obs = jnp.array([-0.5, 0.01])
    np.testing.assert_array_equal(
        loaded.predict(obs, key=jr.key(5)), trained.predict(obs, key=jr.key(5))
    )
