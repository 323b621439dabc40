"""Environment wrappers: functional, jittable, vmappable."""

from ._abstract import AbstractSpacePreservingWrapper as AbstractSpacePreservingWrapper
from ._abstract import AbstractWrapper as AbstractWrapper
from ._abstract import AbstractWrapperState as AbstractWrapperState
from ._abstract import WrapperState as WrapperState
from ._abstract import reset_episode as reset_episode
from ._action import ClipAction as ClipAction
from ._action import RescaleAction as RescaleAction
from ._auto_reset import ENV_AXIS as ENV_AXIS
from ._auto_reset import AutoReset as AutoReset
from ._episode_statistics import EpisodeStatistics as EpisodeStatistics
from ._episode_statistics import EpisodeStatisticsState as EpisodeStatisticsState
from ._normalize import NormalizeObservation as NormalizeObservation
from ._normalize import NormalizeObservationState as NormalizeObservationState
from ._normalize import NormalizeReward as NormalizeReward
from ._normalize import NormalizeRewardState as NormalizeRewardState
from ._normalize import RunningMeanStd as RunningMeanStd
from ._normalize import find_observation_normalization as find_observation_normalization
from ._normalize import has_observation_normalization as has_observation_normalization
from ._normalize import without_normalization as without_normalization
from ._time_limit import TimeLimit as TimeLimit
from ._time_limit import TimeLimitState as TimeLimitState

__all__ = [
    "AbstractSpacePreservingWrapper",
    "AbstractWrapper",
    "AbstractWrapperState",
    "AutoReset",
    "ENV_AXIS",
    "ClipAction",
    "EpisodeStatistics",
    "EpisodeStatisticsState",
    "NormalizeObservation",
    "NormalizeObservationState",
    "NormalizeReward",
    "NormalizeRewardState",
    "RescaleAction",
    "RunningMeanStd",
    "TimeLimit",
    "TimeLimitState",
    "WrapperState",
    "find_observation_normalization",
    "has_observation_normalization",
    "reset_episode",
    "without_normalization",
]
