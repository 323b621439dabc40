"""The interface that lets checkpoints tell a replay buffer from the rest of a state."""

from __future__ import annotations

import equinox as eqx


class AbstractReplayBuffer(eqx.Module):
    """Marks experience storage that `SaveCheckpoints(buffer=False)` leaves out of a
    checkpoint (`lerax.algorithm.ReplayBuffer` is one); a `BufferNotSaved` marker
    takes its place in the saved state."""
