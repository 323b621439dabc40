"""Save, load and resume the full training state.

`save(path, state)` writes a `TrainState` atomically; `load(path)` reads it back
without a template, ready for `algo.train(state, ...)` to continue the run exactly.
`SaveCheckpoints` (in `lerax.callback`) saves from inside the compiled program.

Loading never runs code from the file (no pickle): the structure is JSON naming
classes from an allow-list, the arrays plain `.npy` entries. Every failure to load
raises `CheckpointError`.
"""

from ._errors import CheckpointError as CheckpointError
from ._find import latest_checkpoint as latest_checkpoint
from ._format import FORMAT_VERSION as FORMAT_VERSION
from ._format import BufferNotSaved as BufferNotSaved
from ._load import load as load
from ._load import read_metadata as read_metadata
from ._replay_buffer import AbstractReplayBuffer as AbstractReplayBuffer
from ._save import save as save
from ._structure import register as register
