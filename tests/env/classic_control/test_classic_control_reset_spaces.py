"""Reset distributions and spaces of the classic-control environments, against Gymnasium."""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.env import Acrobot, CartPole, MountainCar, MountainCarContinuous, Pendulum
from lerax.space import Box, Discrete

ENVS = {
    "CartPole-v1": CartPole(),
    "Acrobot-v1": Acrobot(),
    "MountainCar-v0": MountainCar(),
    "MountainCarContinuous-v0": MountainCarContinuous(),
    "Pendulum-v1": Pendulum(),
}
ENV_IDS = list(ENVS)


RESET_BOUNDS = {  # Gymnasium's reset distributions, per state component
    "CartPole-v1": ([-0.05] * 4, [0.05] * 4),
    "Acrobot-v1": ([-0.1] * 4, [0.1] * 4),
    "MountainCar-v0": ([-0.6, 0.0], [-0.4, 0.0]),
    "MountainCarContinuous-v0": ([-0.6, 0.0], [-0.4, 0.0]),
    "Pendulum-v1": ([-np.pi, -1.0], [np.pi, 1.0]),
}


def _state_array(env_id, state):
    names = {
        "CartPole-v1": ("x", "x_dot", "theta", "theta_dot"),
        "Acrobot-v1": ("theta1", "theta2", "dtheta1", "dtheta2"),
        "Pendulum-v1": ("theta", "theta_dot"),
    }.get(env_id, ("position", "velocity"))
    return np.stack([np.asarray(getattr(state, name)) for name in names], axis=-1)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_reset_distribution_matches_gymnasium(env_id):
    env = ENVS[env_id]
    states, observations = jax.vmap(lambda k: env.reset(key=k))(jr.split(jr.key(3), 4000))
    values = _state_array(env_id, states)
    low, high = (np.array(bound) for bound in RESET_BOUNDS[env_id])
    gym_env = gym.make(env_id)
    gym_values = []
    for seed in range(200):
        gym_env.reset(seed=seed)
        gym_values.append(np.array(gym_env.unwrapped.state, np.float64))
    gym_values = np.stack(gym_values)

    tolerance = 1e-6
    for sample in (values, gym_values):  # the bounds are Gymnasium's
        assert np.all(sample >= low - tolerance) and np.all(sample <= high + tolerance)
    width = high - low
    # Uniform on [low, high]: fills the interval, with the uniform mean and spread.
    np.testing.assert_allclose(values.min(0), low, atol=0.01 * width.max())
    np.testing.assert_allclose(values.max(0), high, atol=0.01 * width.max())
    np.testing.assert_allclose(values.mean(0), (low + high) / 2, atol=0.03 * width.max())
    np.testing.assert_allclose(values.std(0), width / np.sqrt(12), atol=0.03 * width.max())
    np.testing.assert_array_equal(np.asarray(states.time), 0)
    assert observations.dtype == jnp.float32
    assert bool(jnp.all(jax.vmap(env.observation_space.contains)(observations)))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_spaces_equal_gymnasium(env_id):
    env = ENVS[env_id]
    gym_env = gym.make(env_id)
    gym_obs = gym_env.observation_space
    assert env.observation_space == Box(gym_obs.low, gym_obs.high)
    if isinstance(gym_env.action_space, gym.spaces.Discrete):
        assert env.action_space == Discrete(int(gym_env.action_space.n))
    else:
        gym_act = gym_env.action_space
        assert env.action_space == Box(gym_act.low, gym_act.high)
    assert env.name == env_id
