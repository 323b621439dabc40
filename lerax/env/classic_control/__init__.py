"""Pure-JAX versions of Gymnasium's classic-control environments."""

from ._acrobot import Acrobot as Acrobot
from ._acrobot import AcrobotState as AcrobotState
from ._cartpole import CartPole as CartPole
from ._cartpole import CartPoleState as CartPoleState
from ._mountain_car import MountainCar as MountainCar
from ._mountain_car import MountainCarState as MountainCarState
from ._mountain_car_continuous import MountainCarContinuous as MountainCarContinuous
from ._mountain_car_continuous import MountainCarContinuousState as MountainCarContinuousState
from ._pendulum import Pendulum as Pendulum
from ._pendulum import PendulumState as PendulumState
