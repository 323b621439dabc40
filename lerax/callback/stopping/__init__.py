"""Stopping callbacks: end training on a target return, a plateau, an episode budget or a
non-finite value. Each keeps a `StopRecord` in its state and prints one line per stopped
member on the host."""

from ._common import AbstractStoppingCallback as AbstractStoppingCallback
from ._common import StopReason as StopReason
from ._common import StopRecord as StopRecord
from ._early_stopping import EarlyStopping as EarlyStopping
from ._early_stopping import EarlyStoppingState as EarlyStoppingState
from ._max_episodes import StopOnMaxEpisodes as StopOnMaxEpisodes
from ._max_episodes import StopOnMaxEpisodesState as StopOnMaxEpisodesState
from ._nan_guard import NaNGuard as NaNGuard
from ._nan_guard import NaNGuardState as NaNGuardState
from ._no_improvement import StopOnNoImprovement as StopOnNoImprovement
from ._no_improvement import StopOnNoImprovementState as StopOnNoImprovementState
