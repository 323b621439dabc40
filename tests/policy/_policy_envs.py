"""Spaces-only stand-ins for environments (policies only read the two spaces)."""

from types import SimpleNamespace

from lerax.env import Acrobot, CartPole, MountainCar, MountainCarContinuous, Pendulum
from lerax.space import Box, Discrete

DISCRETE_ENVS = [CartPole(), Acrobot(), MountainCar()]
BOX_ENVS = [Pendulum(), MountainCarContinuous()]


def spaces(observation_space, action_space):
    return SimpleNamespace(observation_space=observation_space, action_space=action_space)


MATRIX_ACTION_ENV = spaces(Box(-1.0, 1.0, shape=(5,)), Box(-3.0, 1.0, shape=(2, 3)))
DISCRETE_OBSERVATION_ENV = spaces(Discrete(7), Discrete(3))
