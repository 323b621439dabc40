import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.env import AbstractEnv, CartPole, Pendulum
from lerax.env.wrapper import (
    AbstractWrapper,
    AutoReset,
    ClipAction,
    EpisodeStatistics,
    NormalizeObservation,
    NormalizeReward,
    RescaleAction,
    TimeLimit,
)


def test_delegation_name_spaces_unwrapped_render(getkey):
    inner = CartPole()
    env = NormalizeReward(EpisodeStatistics(AutoReset(TimeLimit(inner, 10))))
    assert isinstance(env, AbstractWrapper) and isinstance(env, AbstractEnv)
    assert env.name == "CartPole-v1"
    assert env.observation_space == inner.observation_space
    assert env.action_space == inner.action_space
    assert env.unwrapped is inner
    state, _ = env.reset(key=getkey())
    innermost_state = state.env_state.env_state.env_state.env_state
    image = eqx.filter_jit(lambda e, s: e.render(s, width=60, height=40))(env, state)
    expected = eqx.filter_jit(lambda e, s: e.render(s, width=60, height=40))(inner, innermost_state)
    assert image.shape == (40, 60, 3) and image.dtype == jnp.uint8
    np.testing.assert_array_equal(image, expected)


def test_space_changing_wrappers():
    env = NormalizeObservation(RescaleAction(Pendulum(), 0.0, 1.0))
    assert env.action_space.shape == (1,)
    np.testing.assert_array_equal(env.action_space.low, [0.0])
    np.testing.assert_array_equal(env.action_space.high, [1.0])
    assert np.all(np.isinf(np.asarray(env.observation_space.high)))
    assert env.observation_space.shape == (3,)
    assert ClipAction(Pendulum()).action_space == Pendulum().action_space


@pytest.mark.parametrize(
    "make",
    [
        lambda e: TimeLimit(e, 5),
        AutoReset,
        EpisodeStatistics,
        NormalizeObservation,
        NormalizeReward,
        ClipAction,
        lambda e: RescaleAction(e, -1.0, 1.0),
    ],
)
def test_key_passes_through_unchanged(make, getkey):
    # A wrapped env follows the bare env's trajectory given the same keys
    # (NormalizeObservation changes the observation, so compare the inner state).
    inner = Pendulum()
    env = make(inner)
    reset_key, step_key = getkey(), getkey()
    state, _ = env.reset(key=reset_key)
    inner_state, _ = inner.reset(key=reset_key)
    action = jnp.array([0.5])
    if isinstance(env, RescaleAction):
        action = jnp.array([0.25])  # 0.25 in [-1, 1] -> 0.5 in [-2, 2]
    state, *_ = env.step(state, action, key=step_key)
    inner_state, *_ = inner.step(inner_state, jnp.array([0.5]), key=step_key)
    np.testing.assert_allclose(state.env_state.theta, inner_state.theta, atol=1e-6)
    np.testing.assert_allclose(state.env_state.theta_dot, inner_state.theta_dot, atol=1e-6)
