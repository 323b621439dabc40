"""The functional callback framework.

The contract (the abstract callback, its contexts and states, the partial bases,
`CallbackList`, `EveryN`, schedules) lives in this package's private modules. Each
family of built-in callbacks has its own subpackage, with its host-side writer next to
it: `stopping`, `evaluation`, `saving`, `video`, `progress`, `curriculum` and
`logging`. Every public name is re-exported here.
"""

from ._abstract import AbstractCallback as AbstractCallback
from ._context import Evaluation as Evaluation
from ._context import IterationContext as IterationContext
from ._context import ResetContext as ResetContext
from ._context import StepContext as StepContext
from ._context import TrainingContext as TrainingContext
from ._episodes import EpisodeProgress as EpisodeProgress
from ._episodes import EpisodeStatistics as EpisodeStatistics
from ._episodes import episode_ema as episode_ema
from ._episodes import record_episodes as record_episodes
from ._every_n import EveryN as EveryN
from ._every_n import EveryNState as EveryNState
from ._host_only import HostOnly as HostOnly
from ._list import CallbackList as CallbackList
from ._list import CallbackListState as CallbackListState
from ._list import CallbackListStepState as CallbackListStepState
from ._list import as_callback as as_callback
from ._partial import AbstractIterationCallback as AbstractIterationCallback
from ._partial import AbstractNeverStopping as AbstractNeverStopping
from ._partial import AbstractStatelessCallback as AbstractStatelessCallback
from ._partial import AbstractStepCallback as AbstractStepCallback
from ._partial import AbstractTrainingCallback as AbstractTrainingCallback
from ._partial import AbstractWithoutIterationHook as AbstractWithoutIterationHook
from ._partial import AbstractWithoutRunState as AbstractWithoutRunState
from ._partial import AbstractWithoutStepState as AbstractWithoutStepState
from ._partial import AbstractWithoutTrainingEnd as AbstractWithoutTrainingEnd
from ._partial import AbstractWithoutTrainingStart as AbstractWithoutTrainingStart
from ._schedule import AbstractSchedule as AbstractSchedule
from ._schedule import CosineSchedule as CosineSchedule
from ._schedule import LinearSchedule as LinearSchedule
from ._schedule import StepSchedule as StepSchedule
from ._state import AbstractCallbackState as AbstractCallbackState
from ._state import AbstractCallbackStepState as AbstractCallbackStepState
from ._state import EmptyCallbackState as EmptyCallbackState
from ._state import EmptyCallbackStepState as EmptyCallbackStepState
from .curriculum import EpisodeStatsStepState as EpisodeStatsStepState
from .curriculum import LevelCurriculum as LevelCurriculum
from .curriculum import LevelCurriculumState as LevelCurriculumState
from .curriculum import ScheduledCurriculum as ScheduledCurriculum
from .curriculum import ScheduledCurriculumState as ScheduledCurriculumState
from .evaluation import EvalCallback as EvalCallback
from .evaluation import EvalCallbackState as EvalCallbackState
from .logging import AbstractLoggingBackend as AbstractLoggingBackend
from .logging import CometBackend as CometBackend
from .logging import ConsoleBackend as ConsoleBackend
from .logging import LoggingCallback as LoggingCallback
from .logging import LoggingCallbackState as LoggingCallbackState
from .logging import SQLiteBackend as SQLiteBackend
from .logging import TensorBoardBackend as TensorBoardBackend
from .logging import WandbBackend as WandbBackend
from .logging import list_runs as list_runs
from .logging import load_metrics as load_metrics
from .logging import load_metrics_dataframe as load_metrics_dataframe
from .progress import PrintProgress as PrintProgress
from .progress import ProgressBarCallback as ProgressBarCallback
from .progress import ProgressBarState as ProgressBarState
from .saving import SaveCheckpoints as SaveCheckpoints
from .saving import SaveCheckpointsState as SaveCheckpointsState
from .stopping import AbstractStoppingCallback as AbstractStoppingCallback
from .stopping import EarlyStopping as EarlyStopping
from .stopping import EarlyStoppingState as EarlyStoppingState
from .stopping import NaNGuard as NaNGuard
from .stopping import NaNGuardState as NaNGuardState
from .stopping import StopOnMaxEpisodes as StopOnMaxEpisodes
from .stopping import StopOnMaxEpisodesState as StopOnMaxEpisodesState
from .stopping import StopOnNoImprovement as StopOnNoImprovement
from .stopping import StopOnNoImprovementState as StopOnNoImprovementState
from .stopping import StopReason as StopReason
from .stopping import StopRecord as StopRecord
from .video import RecordVideos as RecordVideos
from .video import RecordVideosState as RecordVideosState
