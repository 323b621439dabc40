import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.env import CartPole, Pendulum
from lerax.env.wrapper import ClipAction, RescaleAction
from lerax.space import Box


@eqx.filter_jit
def _step_many(env, actions, key):
    """Step copies of one reset state with each action; return (theta_dot, reward)."""
    state, _ = env.reset(key=key)

    def one(action):
        new_state, _, reward, *_ = env.step(state, action, key=key)
        return new_state.env_state.theta_dot, reward

    return jax.vmap(one)(actions)


@eqx.filter_jit
def _step_bare(env, actions, key):
    state, _ = env.reset(key=key)

    def one(action):
        new_state, _, reward, *_ = env.step(state, action, key=key)
        return new_state.theta_dot, reward

    return jax.vmap(one)(actions)


def test_clip_action(getkey):
    key = getkey()
    actions = jnp.array([[5.0], [-7.0], [0.3], [2.0]])
    clipped = _step_many(ClipAction(Pendulum()), actions, key)
    expected = _step_bare(Pendulum(), jnp.array([[2.0], [-2.0], [0.3], [2.0]]), key)
    np.testing.assert_allclose(clipped[0], expected[0], atol=1e-6)
    np.testing.assert_allclose(clipped[1], expected[1], atol=1e-6)


def test_rescale_action_maps_affinely(getkey):
    key = getkey()
    env = RescaleAction(Pendulum(), 0.0, 1.0)
    assert env.action_space == Box(0.0, 1.0, shape=(1,))
    agent = jnp.array([[0.0], [1.0], [0.25], [0.5], [3.0]])
    rescaled = _step_many(env, agent, key)
    # [0, 1] -> [-2, 2]: a -> 4 a - 2 (3.0 is out of range and clipped to 2).
    expected = _step_bare(Pendulum(), jnp.array([[-2.0], [2.0], [-1.0], [0.0], [2.0]]), key)
    np.testing.assert_allclose(rescaled[0], expected[0], atol=1e-5)
    np.testing.assert_allclose(rescaled[1], expected[1], atol=1e-5)


def test_rescale_action_array_bounds():
    env = RescaleAction(Pendulum(), np.array([-3.0]), np.array([5.0]))
    np.testing.assert_array_equal(env.action_space.low, [-3.0])
    np.testing.assert_array_equal(env.action_space.high, [5.0])
    assert env.action_space.dtype == np.float32


def test_action_wrappers_under_vmap(getkey):
    env = ClipAction(RescaleAction(Pendulum(), -1.0, 1.0))
    keys = jr.split(getkey(), 5)
    states, _ = jax.vmap(lambda k: env.reset(key=k))(keys)
    actions = jnp.linspace(-2, 2, 5)[:, None]
    _, obs, reward, *_ = jax.vmap(lambda s, a, k: env.step(s, a, key=k))(states, actions, keys)
    assert obs.shape == (5, 3) and reward.shape == (5,)


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="ClipAction.*Box"):
        ClipAction(CartPole())
    with pytest.raises(TypeError, match="RescaleAction.*Box"):
        RescaleAction(CartPole(), -1.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        RescaleAction(Pendulum(), -np.inf, 1.0)
    with pytest.raises(ValueError, match="`low` must be < `high`"):
        RescaleAction(Pendulum(), 1.0, 1.0)
