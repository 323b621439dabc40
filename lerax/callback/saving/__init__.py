"""Saving training checkpoints during `learn`: the callback and its host-side writer
(the format and loading live in `lerax.checkpoint`)."""

from ._save_checkpoints import SaveCheckpoints as SaveCheckpoints
from ._save_checkpoints import SaveCheckpointsState as SaveCheckpointsState
