import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from _policy_envs import BOX_ENVS, DISCRETE_ENVS, MATRIX_ACTION_ENV, spaces

from lerax.distribution import TanhNormal
from lerax.policy import AbstractPolicy, MLPSACPolicy, SACActor, SACCritic
from lerax.space import Box

HIDDEN = (64, 64)
PENDULUM = BOX_ENVS[0]


def _np_relu_forward(layers, x):
    x = np.asarray(x, np.float64)
    for i, layer in enumerate(layers):
        x = np.asarray(layer.weight, np.float64) @ x + np.asarray(layer.bias, np.float64)
        x = np.maximum(x, 0.0) if i < len(layers) - 1 else x
    return x


def _observations(env, key, n):
    rng = np.random.default_rng(int(jr.randint(key, (), 0, 2**30)))
    return rng.normal(size=(n, *env.observation_space.shape)).astype(np.float32)


@eqx.filter_jit
def _run(policy, obs, key):
    keys = jr.split(key, obs.shape[0])
    sampled, log_prob = jax.vmap(lambda o, k: policy.action_and_log_prob(o, key=k))(obs, keys)
    modes = jax.vmap(policy.predict)(obs)
    predicted = jax.vmap(lambda o, k: policy.predict(o, key=k))(obs, keys)
    q1, q2 = jax.vmap(policy.q_values)(obs, sampled)
    return sampled, log_prob, modes, predicted, q1, q2


@pytest.mark.parametrize("env", [PENDULUM, MATRIX_ACTION_ENV], ids=["Pendulum", "matrix"])
def test_shapes_and_actions_in_bounds(env, getkey):
    policy = MLPSACPolicy(env, key=getkey(), hidden=HIDDEN)
    assert isinstance(policy, AbstractPolicy)
    assert isinstance(policy.actor, SACActor) and isinstance(policy.critic, SACCritic)
    obs = _observations(env, getkey(), 64)
    sampled, log_prob, modes, predicted, q1, q2 = _run(policy, obs, getkey())
    shape = (64, *env.action_space.shape)
    assert sampled.shape == modes.shape == predicted.shape == shape
    assert log_prob.shape == q1.shape == q2.shape == (64,)
    low, high = np.asarray(env.action_space.low), np.asarray(env.action_space.high)
    for actions in (sampled, modes, predicted):
        assert actions.dtype == jnp.float32
        assert np.all((np.asarray(actions) >= low) & (np.asarray(actions) <= high))
    # The twin critics are initialised independently.
    assert not np.allclose(q1, q2)


def test_predict_matches_network_and_log_prob_matches_formula(getkey):
    policy = MLPSACPolicy(PENDULUM, key=getkey(), hidden=HIDDEN)
    obs = np.array([0.6, -0.8, 3.0], np.float32)
    out = _np_relu_forward(policy.actor.network.layers, obs)
    mean, raw = out[0], out[1]
    log_std = -5.0 + 0.5 * 7.0 * (np.tanh(raw) + 1.0)
    # Deterministic action: tanh(mean) rescaled from (-1, 1) to (-2, 2).
    assert float(policy.predict(obs)[0]) == pytest.approx(2.0 * np.tanh(mean), abs=1e-5)
    dist = policy.actor_distribution(obs)
    assert isinstance(dist, TanhNormal)
    assert float(dist.scale[0]) == pytest.approx(math.exp(log_std), rel=1e-5)
    # Density of a = 2 tanh(x), x ~ N(mean, std): N(x) / (2 (1 - tanh(x)^2)).
    action, log_prob = policy.action_and_log_prob(obs, key=getkey())
    x = np.arctanh(float(action[0]) / 2.0)
    std = math.exp(log_std)
    expected = (
        -0.5 * ((x - mean) / std) ** 2
        - math.log(std * math.sqrt(2 * math.pi))
        - math.log(2.0 * (1 - np.tanh(x) ** 2))
    )
    assert float(log_prob) == pytest.approx(expected, abs=1e-3)


def test_q_values_match_networks(getkey):
    policy = MLPSACPolicy(PENDULUM, key=getkey(), hidden=HIDDEN)
    obs, action = np.array([1.0, 0.0, -2.0], np.float32), np.array([1.5], np.float32)
    q1, q2 = policy.q_values(obs, action)
    inputs = np.concatenate([obs, action])
    assert float(q1) == pytest.approx(
        _np_relu_forward(policy.critic.q1.layers, inputs)[0], abs=1e-5
    )
    assert float(q2) == pytest.approx(
        _np_relu_forward(policy.critic.q2.layers, inputs)[0], abs=1e-5
    )


def test_log_std_is_squashed_into_bounds(getkey):
    policy = MLPSACPolicy(PENDULUM, key=getkey(), hidden=HIDDEN, log_std_min=-3.0, log_std_max=1.0)
    last = policy.actor.network.layers[-1]
    policy = eqx.tree_at(lambda p: p.actor.network.layers[-1].weight, policy, last.weight * 1e4)
    obs = _observations(PENDULUM, getkey(), 256)
    scales = eqx.filter_jit(jax.vmap(lambda o: policy.actor_distribution(o).scale))(obs)
    log_scales = np.log(np.asarray(scales))
    assert np.all(log_scales >= -3.0 - 1e-5) and np.all(log_scales <= 1.0 + 1e-5)
    assert log_scales.min() < -2.9 and log_scales.max() > 0.9  # both ends reached


def test_actor_and_critic_are_separate_pytrees(getkey):
    policy = MLPSACPolicy(PENDULUM, key=getkey(), hidden=HIDDEN)
    target = jax.tree.map(lambda x: x + 1.0, policy.critic)  # every leaf is an array
    polyak = jax.tree.map(lambda t, c: 0.995 * t + 0.005 * c, target, policy.critic)
    obs, action = jnp.ones(3), jnp.ones(1)
    assert float(polyak(obs, action)[0]) != float(policy.critic(obs, action)[0])

    def actor_loss(actor, key):
        p = eqx.tree_at(lambda p: p.actor, policy, actor)
        action, log_prob = p.action_and_log_prob(obs, key=key)
        return 0.2 * log_prob - jnp.minimum(*p.q_values(obs, action))

    grads = eqx.filter_jit(eqx.filter_grad(actor_loss))(policy.actor, getkey())
    assert isinstance(grads, SACActor)
    leaves = jax.tree.leaves(grads)
    assert all(np.all(np.isfinite(g)) for g in leaves) and any(np.any(g != 0) for g in leaves)


def test_bad_arguments_raise(getkey):
    with pytest.raises(TypeError, match="MLPSACPolicy.*action space.*Box"):
        MLPSACPolicy(DISCRETE_ENVS[0], key=getkey())
    unbounded = spaces(Box(-1.0, 1.0, shape=(3,)), Box(-np.inf, np.inf, shape=(2,)))
    with pytest.raises(ValueError, match="finite bounds"):
        MLPSACPolicy(unbounded, key=getkey())
    with pytest.raises(ValueError, match="`log_std_min`"):
        MLPSACPolicy(PENDULUM, key=getkey(), log_std_min=2.0, log_std_max=-5.0)
    with pytest.raises(ValueError, match="`hidden`"):
        MLPSACPolicy(PENDULUM, key=getkey(), hidden=(0,))
    with pytest.raises(TypeError, match="`activation`"):
        MLPSACPolicy(PENDULUM, key=getkey(), activation=3)
