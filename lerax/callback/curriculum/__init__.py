"""Curricula: env parameters changed during training, on a schedule or by level on the
episodic return."""

from ._curriculum import ScheduledCurriculum as ScheduledCurriculum
from ._curriculum import ScheduledCurriculumState as ScheduledCurriculumState
from ._level_curriculum import EpisodeStatsStepState as EpisodeStatsStepState
from ._level_curriculum import LevelCurriculum as LevelCurriculum
from ._level_curriculum import LevelCurriculumState as LevelCurriculumState
