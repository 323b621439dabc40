import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from _policy_envs import BOX_ENVS, DISCRETE_ENVS, MATRIX_ACTION_ENV, spaces

from lerax.distribution import TanhNormal
from lerax.env import Pendulum
from lerax.policy import AbstractPolicy, MLPSACPolicy, SACActor, SACCritic
from lerax.space import Box

HIDDEN = (64, 64)
PENDULUM = BOX_ENVS[0]


def _np_relu_forward(layers, x):
    x = np.asarray(x, np.float64)
    for i, layer in enumerate(layers):
        x = x @ np.asarray(layer.kernel, np.float64) + np.asarray(layer.bias, np.float64)
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
    return sampled, log_prob, modes, predicted, q1, q2, jax.vmap(policy.actor_distribution)(obs)


@pytest.mark.parametrize("env", [PENDULUM, MATRIX_ACTION_ENV], ids=["Pendulum", "matrix"])
def test_shapes_and_actions_in_bounds(env, getkey):
    policy = MLPSACPolicy(env, key=getkey(), hidden=HIDDEN)
    assert isinstance(policy, AbstractPolicy)
    assert isinstance(policy.actor, SACActor) and isinstance(policy.critic, SACCritic)
    obs = _observations(env, getkey(), 64)
    sampled, log_prob, modes, predicted, q1, q2, dist = _run(policy, obs, getkey())
    assert isinstance(dist, TanhNormal)
    shape = (64, *env.action_space.shape)
    assert sampled.shape == modes.shape == predicted.shape == shape
    assert log_prob.shape == q1.shape == q2.shape == (64,)
    low, high = np.asarray(env.action_space.low), np.asarray(env.action_space.high)
    for actions in (sampled, modes, predicted):
        assert actions.dtype == jnp.float32
        assert np.all((np.asarray(actions) >= low) & (np.asarray(actions) <= high))
    # The twin critics are initialised independently.
    assert not np.allclose(q1, q2)


def test_outputs_match_networks_and_log_prob_matches_formula(getkey):
    policy = MLPSACPolicy(PENDULUM, key=getkey(), hidden=HIDDEN)
    obs = _observations(PENDULUM, getkey(), 64)
    sampled, log_prob, modes, _, q1, q2, dist = _run(policy, obs, getkey())
    for i in range(4):
        out = _np_relu_forward(policy.actor.network.layers, obs[i])
        mean, raw = out[0], out[1]
        std = math.exp(-5.0 + 0.5 * 7.0 * (np.tanh(raw) + 1.0))
        # Deterministic action: tanh(mean) rescaled from (-1, 1) to (-2, 2).
        assert float(modes[i, 0]) == pytest.approx(2.0 * np.tanh(mean), abs=1e-5)
        assert float(dist.scale[i, 0]) == pytest.approx(std, rel=1e-5)
        # Density of a = 2 tanh(x), x ~ N(mean, std): N(x) / (2 (1 - tanh(x)^2)).
        x = np.arctanh(float(sampled[i, 0]) / 2.0)
        expected = (
            -0.5 * ((x - mean) / std) ** 2
            - math.log(std * math.sqrt(2 * math.pi))
            - math.log(2.0 * (1 - np.tanh(x) ** 2))
        )
        assert float(log_prob[i]) == pytest.approx(expected, abs=1e-3)
        # Critics take concat(observation, action in env units).
        inputs = np.concatenate([obs[i], np.asarray(sampled[i])])
        expected_q1 = _np_relu_forward(policy.critic.q1.layers, inputs)[0]
        expected_q2 = _np_relu_forward(policy.critic.q2.layers, inputs)[0]
        assert float(q1[i]) == pytest.approx(expected_q1, abs=1e-5)
        assert float(q2[i]) == pytest.approx(expected_q2, abs=1e-5)


def test_log_std_is_squashed_into_bounds(getkey):
    policy = MLPSACPolicy(PENDULUM, key=getkey(), hidden=HIDDEN, log_std_min=-3.0, log_std_max=1.0)
    obs = _observations(PENDULUM, getkey(), 64)
    scales = eqx.filter_jit(jax.vmap(lambda p, o: p.actor_distribution(o).scale, (None, 0)))
    log_scales = np.log(np.asarray(scales(policy, obs)))
    assert np.all(log_scales > -3.0) and np.all(log_scales < 1.0)
    # The output layer's rows are (mean, raw log-std): saturate the raw log-std.
    for raw_bias, bound in ((1e4, 1.0), (-1e4, -3.0)):
        bias = jnp.array([0.0, raw_bias])
        saturated = eqx.tree_at(lambda p: p.actor.network.layers[-1].bias, policy, bias)
        np.testing.assert_allclose(np.log(np.asarray(scales(saturated, obs))), bound, atol=1e-5)


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


def test_constructed_inside_jit_and_vmap_like_outside():
    """One policy per seed inside a jitted vmap (the env's bounds are traced there)."""
    env = Pendulum()
    keys = jr.split(jr.key(5), 3)
    batched = jax.jit(jax.vmap(lambda k: MLPSACPolicy(env, key=k)))(keys)
    single = MLPSACPolicy(env, key=keys[2])
    for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
        np.testing.assert_array_equal(np.asarray(a)[2], np.asarray(b))
