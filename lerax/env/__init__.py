"""Environments: the functional interface and pure-JAX implementations."""

from ._abstract import AbstractEnv as AbstractEnv
from ._abstract import AbstractEnvState as AbstractEnvState
from ._abstract import AbstractTimeLimitedEnv as AbstractTimeLimitedEnv
from ._action import to_env_action as to_env_action
from ._episode_limit import episode_limit as episode_limit
from .adapter import BraxEnv as BraxEnv
from .adapter import GymnasiumEnv as GymnasiumEnv
from .adapter import GymnaxEnv as GymnaxEnv
from .classic_control import Acrobot as Acrobot
from .classic_control import CartPole as CartPole
from .classic_control import MountainCar as MountainCar
from .classic_control import MountainCarContinuous as MountainCarContinuous
from .classic_control import Pendulum as Pendulum
from .wrapper import ENV_AXIS as ENV_AXIS
from .wrapper import AutoReset as AutoReset
from .wrapper import ClipAction as ClipAction
from .wrapper import EpisodeStatistics as EpisodeStatistics
from .wrapper import NormalizeObservation as NormalizeObservation
from .wrapper import NormalizeReward as NormalizeReward
from .wrapper import RescaleAction as RescaleAction
from .wrapper import TimeLimit as TimeLimit
