"""`CheckpointError`: the one error every failed load raises."""

from __future__ import annotations

import os


class CheckpointError(ValueError):
    """A checkpoint or policy file could not be loaded.

    Raised for every failure to load: a missing file, a truncated or corrupted one,
    a format version this lerax does not read, a structure naming a class outside
    the allow-list, or a file that does not match the expected template. The message
    names the path and what is wrong.

    Attributes:
        path: The checkpoint directory, or None.
        problem: What is wrong, in words.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str, *, owner: str = ""):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        where = f"'{self.path}'" if self.path is not None else "the checkpoint"
        super().__init__(f"{owner or 'lerax.checkpoint.load'}: cannot load {where}: {problem}")
