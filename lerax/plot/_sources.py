"""Where `lerax.plot` reads learning curves from: the SQLite store or TensorBoard logs.

Both readers answer `runs()`, `metric(run, metric) -> (steps, values)` and
`metrics(run)`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

Series = tuple[np.ndarray, np.ndarray]


class _SQLiteRuns:
    def __init__(self, path: Path):
        from lerax.callback.logging import list_runs

        self.path = path
        latest: dict[str, int] = {}
        for run in list_runs(path):  # oldest first: the newest run of a name wins
            latest[run["name"]] = run["id"]
        self._ids = latest

    def runs(self) -> list[str]:
        return list(self._ids)

    def metric(self, run: str, metric: str) -> Series:
        from lerax.callback.logging import load_metrics

        return load_metrics(self.path, self._ids[run], [metric])[metric]

    def metrics(self, run: str) -> list[str]:
        from lerax.callback.logging import load_metrics

        return sorted(load_metrics(self.path, self._ids[run]))


class _TensorBoardRuns:
    def __init__(self, path: Path):
        try:
            from tensorboard.backend.event_processing import event_accumulator
        except ImportError as error:
            raise ImportError(
                'reading TensorBoard logs needs tensorboard: pip install "lerax[tensorboard]"'
            ) from error
        self._accumulator = event_accumulator
        self.path = path
        self._dirs: dict[str, Path] = {}
        for folder, _, files in sorted(os.walk(path)):
            if any(f.startswith("events.out.tfevents") for f in files):
                name = Path(folder).relative_to(path).as_posix()
                self._dirs["." if name == "." else name] = Path(folder)
        self._loaded: dict[str, Any] = {}

    def _load(self, run: str):
        if run not in self._loaded:
            accumulator = self._accumulator.EventAccumulator(
                str(self._dirs[run]), size_guidance={self._accumulator.SCALARS: 0}
            )
            accumulator.Reload()
            self._loaded[run] = accumulator
        return self._loaded[run]

    def runs(self) -> list[str]:
        return list(self._dirs)

    def metric(self, run: str, metric: str) -> Series:
        accumulator = self._load(run)
        if metric not in accumulator.Tags()["scalars"]:
            return np.zeros(0, np.int64), np.zeros(0)
        events = accumulator.Scalars(metric)
        steps = np.asarray([e.step for e in events], np.int64)
        values = np.asarray([e.value for e in events], np.float64)
        return steps, values

    def metrics(self, run: str) -> list[str]:
        return sorted(self._load(run).Tags()["scalars"])


def reader(source: str | os.PathLike):
    """The runs at `source`: a SQLite store (a file) or a TensorBoard log directory."""
    path = Path(source)
    if path.is_dir():
        return _TensorBoardRuns(path)
    if path.is_file():
        return _SQLiteRuns(path)
    raise FileNotFoundError(f"no SQLite database or TensorBoard log directory at {str(path)!r}")
