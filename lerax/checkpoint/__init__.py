"""Save, load and resume the full training state.

`save(path, state)` writes a `TrainState` atomically; `load(path)` reads it back
without a template, ready for `algo.train(state, ...)` to continue the run exactly.
`SaveCheckpoints` (in `lerax.callback`) saves from inside the compiled program.
"""

from ._format import AbstractReplayBuffer as AbstractReplayBuffer
from ._format import BufferNotSaved as BufferNotSaved
from ._load import load as load
from ._load import read_metadata as read_metadata
from ._save import save as save
