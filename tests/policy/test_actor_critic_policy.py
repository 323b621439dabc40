import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from _policy_envs import (
    BOX_ENVS,
    DISCRETE_ENVS,
    DISCRETE_OBSERVATION_ENV,
    MATRIX_ACTION_ENV,
    spaces,
)

from lerax.distribution import Categorical, Normal
from lerax.policy import AbstractActorCriticPolicy, MLPActorCriticPolicy
from lerax.space import Box, Discrete

# Every kind of space: Discrete(2)/Discrete(3) actions, Box(1) actions, a matrix Box, and
# Discrete observations (MountainCar adds no new kind).
ALL_ENVS = DISCRETE_ENVS[:2] + BOX_ENVS + [MATRIX_ACTION_ENV, DISCRETE_OBSERVATION_ENV]


def _observations(env, key, n=64):
    """Observations drawn with numpy (no compilation): normal for Box, uniform for Discrete."""
    rng = np.random.default_rng(int(jr.randint(key, (), 0, 2**30)))
    space = env.observation_space
    if isinstance(space, Discrete):
        return rng.integers(0, space.n, n).astype(np.int32)
    return rng.normal(size=(n, *space.shape)).astype(np.float32)


def _np_contains(space, actions):
    actions = np.asarray(actions)
    if isinstance(space, Discrete):
        return bool(np.all((actions >= 0) & (actions < space.n)))
    low, high = np.asarray(space.low), np.asarray(space.high)
    return bool(np.all((actions >= low) & (actions <= high)))


def _np_forward(layers, x):
    """The tanh MLP, recomputed in float64 numpy from the layer weights."""
    x = np.asarray(x, np.float64)
    for i, layer in enumerate(layers):
        x = x @ np.asarray(layer.kernel, np.float64) + np.asarray(layer.bias, np.float64)
        x = np.tanh(x) if i < len(layers) - 1 else x
    return x


@eqx.filter_jit
def _evaluate(policy, obs, key):
    """Everything the tests look at, for a batch of observations, in one compilation."""
    keys = jr.split(key, obs.shape[0])
    actions, log_probs, values = jax.vmap(lambda o, k: policy.action_and_value(o, key=k))(obs, keys)
    modes = jax.vmap(policy.predict)(obs)
    distributions = jax.vmap(policy.distribution)(obs)
    return actions, log_probs, values, modes, distributions


@pytest.mark.parametrize("env", ALL_ENVS, ids=lambda e: getattr(e, "name", "custom"))
def test_shapes_dtypes_and_actions_in_space(env, getkey):
    policy = MLPActorCriticPolicy(env, key=getkey())
    assert isinstance(policy, AbstractActorCriticPolicy)
    obs = _observations(env, getkey())
    actions, log_probs, values, modes, dist = _evaluate(policy, obs, getkey())
    assert log_probs.shape == values.shape == (len(obs),)
    assert log_probs.dtype == values.dtype == jnp.float32
    space = env.action_space
    assert actions.shape == modes.shape == (len(obs), *space.shape)
    assert actions.dtype == modes.dtype == space.dtype
    if isinstance(space, Box):
        assert isinstance(dist, Normal) and policy.log_std.shape == space.shape
        # The Normal is unbounded; clipped samples and the initial mode lie in the Box.
        actions = np.clip(actions, space.low, space.high)
    else:
        assert isinstance(dist, Categorical) and policy.log_std is None
    assert _np_contains(space, actions) and _np_contains(space, modes)


@pytest.mark.parametrize("env", DISCRETE_ENVS[:2] + BOX_ENVS[:1], ids=lambda e: e.name)
def test_deterministic_predict_is_mode_of_network_output(env, getkey):
    policy = MLPActorCriticPolicy(env, key=getkey())
    # Make the actor's output large enough that argmax is not a tie.
    policy = eqx.tree_at(
        lambda p: p.actor.layers[-1].kernel,
        policy,
        jr.normal(getkey(), policy.actor.layers[-1].kernel.shape),
    )
    obs = _observations(env, getkey())
    _, _, values, predicted, _ = _evaluate(policy, obs, getkey())
    for i in range(8):
        out = _np_forward(policy.actor.layers, obs[i])
        expected = np.argmax(out) if isinstance(env.action_space, Discrete) else out
        np.testing.assert_allclose(predicted[i], expected, atol=1e-5)
        value = _np_forward(policy.critic.layers, obs[i])[0]
        assert float(values[i]) == pytest.approx(float(value), abs=1e-5)


def test_normal_scale_is_exp_log_std(getkey):
    env = BOX_ENVS[0]
    policy = MLPActorCriticPolicy(env, key=getkey())
    np.testing.assert_array_equal(policy.log_std, np.zeros(1))
    policy = eqx.tree_at(lambda p: p.log_std, policy, jnp.array([-0.7]))
    obs = _observations(env, getkey())
    *_, dist = _evaluate(policy, obs, getkey())
    np.testing.assert_allclose(dist.scale, np.full((len(obs), 1), np.exp(-0.7)), rtol=1e-6)


def test_discrete_observations_are_one_hot(getkey):
    policy = MLPActorCriticPolicy(DISCRETE_OBSERVATION_ENV, key=getkey())
    assert policy.actor.layers[0].in_features == 7
    obs = np.arange(64, dtype=np.int32) % 7
    *_, dist = _evaluate(policy, obs, getkey())
    out = _np_forward(policy.actor.layers, np.eye(7)[4])
    np.testing.assert_allclose(dist.logits[4], out, atol=1e-6)


def test_orthogonal_initialisation(getkey):
    policy = MLPActorCriticPolicy(DISCRETE_ENVS[0], key=getkey(), hidden=(64, 64))
    actor, critic = policy.actor.layers, policy.critic.layers
    first = np.asarray(actor[0].kernel)  # (4, 64) = (in, out): orthonormal rows, x sqrt(2)
    assert first.shape == (4, 64)
    np.testing.assert_allclose(first @ first.T, 2.0 * np.eye(4), atol=1e-5)
    square = np.asarray(actor[1].kernel)  # (64, 64)
    np.testing.assert_allclose(square.T @ square, 2.0 * np.eye(64), atol=1e-4)
    out = np.asarray(actor[2].kernel)  # (64, 2): orthonormal columns, scaled by 0.01
    np.testing.assert_allclose(out.T @ out, 1e-4 * np.eye(2), atol=1e-9)
    assert out.std() == pytest.approx(0.01 / np.sqrt(64), rel=0.3)
    value_out = np.asarray(critic[2].kernel)
    np.testing.assert_allclose(value_out.T @ value_out, [[1.0]], atol=1e-5)
    for layer in actor + critic:
        np.testing.assert_array_equal(layer.bias, 0.0)
    # Different keys for actor and critic.
    assert not np.allclose(actor[0].kernel, critic[0].kernel)


def test_initial_policy_is_near_uniform(getkey):
    policy = MLPActorCriticPolicy(DISCRETE_ENVS[1], key=getkey())
    obs = _observations(DISCRETE_ENVS[1], getkey())
    *_, dist = _evaluate(policy, obs, getkey())
    probs = jax.nn.softmax(dist.logits, axis=-1)
    np.testing.assert_allclose(probs, 1 / 3, atol=0.05)


def test_jit_vmap_and_gradient(getkey):
    env = BOX_ENVS[0]
    policy = MLPActorCriticPolicy(env, key=getkey())
    obs = _observations(env, getkey(), 16)
    actions = jr.normal(getkey(), (16, 1))

    @eqx.filter_jit
    @eqx.filter_value_and_grad
    def loss(policy, obs, actions):
        log_prob, entropy, value = jax.vmap(policy.evaluate_action)(obs, actions)
        return -jnp.mean(log_prob) - 0.01 * jnp.mean(entropy) + jnp.mean(value**2)

    value, grads = loss(policy, obs, actions)
    assert np.isfinite(float(value))
    assert float(jnp.abs(grads.log_std).sum()) > 0
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(eqx.filter(grads, eqx.is_array)))
    assert float(jnp.abs(grads.critic.layers[0].kernel).sum()) > 0


def test_no_retrace_for_new_parameters(getkey):
    env = DISCRETE_ENVS[0]

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def act(policy, obs, key):
        return jax.vmap(lambda o, k: policy.predict(o, key=k))(obs, jr.split(key, len(obs)))

    obs = _observations(env, getkey(), 4)
    for _ in range(3):
        act(MLPActorCriticPolicy(env, key=getkey()), obs, getkey())


@pytest.mark.parametrize("hidden", [(), (64, 0), (64, -1), (32.0,), (True,)])
def test_bad_hidden_raises_value_error(hidden, getkey):
    with pytest.raises(ValueError, match="`hidden`.*non-empty tuple of positive ints"):
        MLPActorCriticPolicy(DISCRETE_ENVS[0], key=getkey(), hidden=hidden)


def test_hidden_not_a_sequence_raises_type_error(getkey):
    with pytest.raises(TypeError, match="`hidden`"):
        MLPActorCriticPolicy(DISCRETE_ENVS[0], key=getkey(), hidden=64)


def test_bad_activation_raises(getkey):
    with pytest.raises(TypeError, match="`activation`.*callable"):
        MLPActorCriticPolicy(DISCRETE_ENVS[0], key=getkey(), activation="tanh")


def test_unsupported_spaces_raise(getkey):
    int_box = spaces(Box(-1.0, 1.0, shape=(3,)), Box(0, 5, shape=(2,), dtype=np.int32))
    with pytest.raises(TypeError, match="action space"):
        MLPActorCriticPolicy(int_box, key=getkey())
    odd = spaces(object(), Discrete(2))
    with pytest.raises(TypeError, match="observation space object"):
        MLPActorCriticPolicy(odd, key=getkey())
