"""Reading back what `SQLiteBackend` stored."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._sqlite import connect

_RUN_COLUMNS = ("id", "name", "algorithm", "env", "hparams", "metadata")
_RUN_COLUMNS += ("start_time", "end_time", "status")


def list_runs(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every run in the database, oldest first.

    Returns:
        One dict per run with keys `id`, `name`, `algorithm`, `env`, `hparams` (dict),
        `metadata` (dict), `start_time`, `end_time` (Unix seconds; `None` while
        running) and `status` (`'running'`, `'finished'` or `'failed'`).

    Raises:
        FileNotFoundError: There is no database at `path`.
    """
    with _reader(path) as connection:
        rows = connection.execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs ORDER BY id")
        runs = [dict(zip(_RUN_COLUMNS, row, strict=True)) for row in rows]
    for run in runs:
        run["hparams"] = json.loads(run["hparams"])
        run["metadata"] = json.loads(run["metadata"])
    return runs


def load_metrics(
    path: str | os.PathLike, run_name: str | int, keys: Sequence[str] | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The metric series of one run.

    Args:
        path: The database file.
        run_name: The run's name (the most recent run of that name) or its integer id.
        keys: The metrics to load (all of the run's metrics when `None`).

    Returns:
        `{key: (steps, values)}`, `steps` an `int64` array in increasing order and
        `values` a `float64` array (NaN where NaN was logged); a requested key that
        was never logged maps to two empty arrays.

    Raises:
        FileNotFoundError: There is no database at `path`.
        ValueError: No run is called `run_name`.
    """
    if isinstance(keys, str):
        raise TypeError(f"keys must be a sequence of str or None, got {keys!r}")
    with _reader(path) as connection:
        run_id = _run_id(connection, run_name)
        sql = "SELECT key, step, value FROM metrics WHERE run_id = ?"
        params: list[Any] = [run_id]
        if keys is not None:
            sql += f" AND key IN ({', '.join('?' * len(keys))})"
            params += list(keys)
        rows = connection.execute(sql + " ORDER BY key, step, event", params).fetchall()
    series: dict[str, tuple[list[int], list[float]]] = {k: ([], []) for k in keys or ()}
    for key, step, value in rows:
        steps, values = series.setdefault(key, ([], []))
        steps.append(step)
        values.append(np.nan if value is None else value)
    return {
        key: (np.asarray(steps, np.int64), np.asarray(values, np.float64))
        for key, (steps, values) in series.items()
    }


def load_metrics_dataframe(
    path: str | os.PathLike,
    run_name: str | int | None = None,
    keys: Sequence[str] | None = None,
):
    """The metrics as a long-format `pandas.DataFrame`.

    Columns: `run_id`, `run` (the run name), `step`, `key`, `value`. For one column
    per metric: `frame.pivot_table(index="step", columns="key", values="value")`.

    Args:
        path: The database file.
        run_name: One run's name (its most recent run) or id; every run when `None`.
        keys: The metrics to load (all when `None`).

    Raises:
        ImportError: pandas is not installed.
        FileNotFoundError: There is no database at `path`.
        ValueError: No run is called `run_name`.
    """
    try:
        import pandas
    except ImportError as error:
        raise ImportError("load_metrics_dataframe needs pandas: pip install pandas") from error
    if isinstance(keys, str):
        raise TypeError(f"keys must be a sequence of str or None, got {keys!r}")
    sql = (
        "SELECT metrics.run_id, runs.name, metrics.step, metrics.key, metrics.value "
        "FROM metrics JOIN runs ON runs.id = metrics.run_id WHERE 1"
    )
    params: list[Any] = []
    with _reader(path) as connection:
        if run_name is not None:
            sql += " AND metrics.run_id = ?"
            params.append(_run_id(connection, run_name))
        if keys is not None:
            sql += f" AND metrics.key IN ({', '.join('?' * len(keys))})"
            params += list(keys)
        rows = connection.execute(
            sql + " ORDER BY metrics.run_id, metrics.key, metrics.step, metrics.event", params
        ).fetchall()
    frame = pandas.DataFrame(rows, columns=["run_id", "run", "step", "key", "value"])
    return frame.astype({"run_id": "int64", "step": "int64", "value": "float64"})


class _reader:
    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"no lerax SQLite database at {self.path!r}")

    def __enter__(self) -> sqlite3.Connection:
        self.connection = connect(self.path)
        return self.connection

    def __exit__(self, *exc_info) -> None:
        self.connection.close()


def _run_id(connection: sqlite3.Connection, run: str | int) -> int:
    if isinstance(run, bool) or not isinstance(run, str | int):
        raise TypeError(f"run_name must be a run name (str) or id (int), got {run!r}")
    column = "id" if isinstance(run, int) else "name"
    row = connection.execute(
        f"SELECT id FROM runs WHERE {column} = ? ORDER BY id DESC LIMIT 1", (run,)
    ).fetchone()
    if row is None:
        names = [name for (name,) in connection.execute("SELECT DISTINCT name FROM runs")]
        raise ValueError(f"no run {run!r} in the database; runs: {names}")
    return row[0]
