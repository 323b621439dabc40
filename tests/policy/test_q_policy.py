import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from _policy_envs import BOX_ENVS, DISCRETE_ENVS, DISCRETE_OBSERVATION_ENV

from lerax.policy import AbstractPolicy, MLPQPolicy
from lerax.space import Discrete

CARTPOLE = DISCRETE_ENVS[0]


def _np_relu_forward(layers, x):
    x = np.asarray(x, np.float64)
    for i, layer in enumerate(layers):
        x = x @ np.asarray(layer.kernel, np.float64) + np.asarray(layer.bias, np.float64)
        x = np.maximum(x, 0.0) if i < len(layers) - 1 else x
    return x


@eqx.filter_jit
def _act(policy, obs, key):
    keys = jr.split(key, obs.shape[0])
    q = jax.vmap(policy.q_values)(obs)
    greedy = jax.vmap(policy.predict)(obs)
    sampled = jax.vmap(lambda o, k: policy.predict(o, key=k))(obs, keys)
    return q, greedy, sampled


@pytest.mark.parametrize("env", DISCRETE_ENVS + [DISCRETE_OBSERVATION_ENV])
def test_shapes_greedy_and_actions_in_space(env, getkey):
    policy = MLPQPolicy(env, key=getkey())
    assert isinstance(policy, AbstractPolicy)
    n = env.action_space.n
    rng = np.random.default_rng(0)
    space = env.observation_space
    if isinstance(space, Discrete):
        obs = rng.integers(0, space.n, 32).astype(np.int32)
    else:
        obs = rng.normal(size=(32, *space.shape)).astype(np.float32)
    q, greedy, sampled = _act(policy, obs, getkey())
    assert q.shape == (32, n) and q.dtype == jnp.float32
    assert greedy.dtype == sampled.dtype == jnp.int32 and greedy.shape == (32,)
    np.testing.assert_array_equal(greedy, np.argmax(np.asarray(q), axis=-1))
    assert np.all((np.asarray(sampled) >= 0) & (np.asarray(sampled) < n))


def test_q_values_match_network(getkey):
    policy = MLPQPolicy(CARTPOLE, key=getkey(), hidden=(64, 32))
    obs = np.array([[0.1, -0.5, 0.02, 1.0]], np.float32)
    q, greedy, _ = _act(policy, obs, getkey())
    np.testing.assert_allclose(q[0], _np_relu_forward(policy.q_network.layers, obs[0]), atol=1e-5)
    assert int(greedy[0]) == int(np.argmax(q[0]))
    assert [layer.out_features for layer in policy.q_network.layers] == [64, 32, 2]


@pytest.mark.parametrize("epsilon", [0.0, 0.3, 1.0])
def test_epsilon_greedy_frequencies(epsilon, getkey):
    env = DISCRETE_ENVS[1]  # 3 actions
    policy = MLPQPolicy(env, key=getkey(), epsilon=epsilon)
    obs = jnp.zeros((20_000, 6))
    q, greedy, sampled = _act(policy, obs, getkey())
    greedy_action = int(greedy[0])
    # P(greedy) = 1 - eps + eps / n; each other action eps / n.
    freq = np.bincount(np.asarray(sampled), minlength=3) / len(obs)
    expected = np.full(3, epsilon / 3)
    expected[greedy_action] += 1 - epsilon
    np.testing.assert_allclose(freq, expected, atol=0.015)


def test_epsilon_update_does_not_retrace(getkey):
    policy = MLPQPolicy(CARTPOLE, key=getkey())

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def act(policy, key):
        return policy.predict(jnp.zeros(4), key=key)

    for epsilon in (1.0, 0.5, 0.1):
        act(eqx.tree_at(lambda p: p.epsilon, policy, jnp.asarray(epsilon)), getkey())


def test_box_actions_raise(getkey):
    with pytest.raises(TypeError, match="MLPQPolicy.*action space.*Discrete"):
        MLPQPolicy(BOX_ENVS[0], key=getkey())


@pytest.mark.parametrize("epsilon", [-0.1, 1.5])
def test_bad_epsilon_raises(epsilon, getkey):
    with pytest.raises(ValueError, match="`epsilon`"):
        MLPQPolicy(CARTPOLE, key=getkey(), epsilon=epsilon)


def test_bad_hidden_and_activation_raise(getkey):
    with pytest.raises(ValueError, match="`hidden`"):
        MLPQPolicy(CARTPOLE, key=getkey(), hidden=())
    with pytest.raises(TypeError, match="`activation`"):
        MLPQPolicy(CARTPOLE, key=getkey(), activation=None)
