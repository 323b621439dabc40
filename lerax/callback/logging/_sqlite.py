"""SQLite backend: the embedded, dependency-free offline metrics store."""

from __future__ import annotations

import functools
import json
import math
import os
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ._backend import AbstractLoggingBackend

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    algorithm TEXT,
    env TEXT,
    hparams TEXT NOT NULL DEFAULT '{}',
    metadata TEXT NOT NULL DEFAULT '{}',
    start_time REAL NOT NULL,
    end_time REAL,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_name ON runs (name);
CREATE TABLE IF NOT EXISTS events (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    step INTEGER NOT NULL,
    scalars TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_run_step ON events (run_id, step);
CREATE TABLE IF NOT EXISTS videos (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    step INTEGER NOT NULL,
    tag TEXT NOT NULL,
    num_frames INTEGER NOT NULL,
    height INTEGER NOT NULL,
    width INTEGER NOT NULL,
    fps REAL NOT NULL
);
"""
_EVENT_METRICS = (
    "SELECT events.run_id AS run_id, events.step AS step, scalar.key AS key, "
    "CAST(scalar.value AS REAL) AS value, events.rowid AS event "
    "FROM events, json_each(events.scalars) AS scalar"
)
METRICS_VIEW = f"CREATE VIEW metrics AS {_EVENT_METRICS}"
"""`metrics(run_id, step, key, value, event)`: one row per scalar of every log event."""
_LEGACY_METRICS_VIEW = (
    "CREATE VIEW metrics AS SELECT run_id, step, key, value, -rowid AS event "
    f"FROM metric_rows UNION ALL {_EVENT_METRICS}"
)
_INSERT_EVENT = "INSERT INTO events (run_id, step, scalars) VALUES (?, ?, ?)"
BUSY_TIMEOUT_S = 60.0


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, busy timeout."""
    connection = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        _enable_wal(connection)
        connection.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        connection.close()
        raise
    return connection


def _enable_wal(connection: sqlite3.Connection) -> None:
    """Switch to WAL, retrying while the file is locked.

    Changing the journal mode does not wait on the busy timeout: when several
    processes create the same database at once it fails with "database is locked",
    so retry until `BUSY_TIMEOUT_S`. A file system without WAL support (some network
    file systems) keeps its rollback journal, which is slower but still safe.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


class SQLiteBackend(AbstractLoggingBackend):
    """Append every run to one SQLite database file: the default offline store.

    Tables (see `SCHEMA`):

    * `runs(id, name, algorithm, env, hparams, metadata, start_time, end_time, status)`
      with `hparams` and `metadata` as JSON text and times in Unix seconds;
    * `events(run_id, step, scalars)`, indexed on `(run_id, step)`: one row per log
      event, its scalars a JSON object `{key: value}` (NaN as `null`, SQLite has no
      NaN; infinities as `1e999` and `-1e999`, which SQLite reads as infinities);
    * `metrics(run_id, step, key, value, event)`, a view over `events` with one row
      per scalar (`event` is the event's row id, which orders the events of a step):
      query it with SQL as a table, e.g.
      `SELECT step, value FROM metrics WHERE run_id = ? AND key = 'episode/return_mean'`;
    * `videos(run_id, step, tag, num_frames, height, width, fps)`: a video is recorded
      by its shape only, the frames are not stored (log them with TensorBoard, W&B or
      Comet).

    `status` is `'running'` from `open` on, and stays so when the process dies before
    `close` (a crashed or killed run); `close` sets `'finished'`, `'interrupted'` when
    the training call ended early (an exception or `KeyboardInterrupt`: what crossed
    before it is stored), or `'failed'` when a write of this backend raised during the
    run (its rows may be incomplete).

    Many runs, threads and processes can write to the same file at once: the database
    is in WAL mode, each write is one short `BEGIN IMMEDIATE` transaction, and a writer
    waits up to `BUSY_TIMEOUT_S` seconds for the lock. Read it back with SQL or with
    `load_metrics` / `load_metrics_dataframe` / `list_runs`.

    One row per event rather than per scalar: inserting 25 scalar rows into an
    indexed table cost the writer thread ~60 us per event, one JSON row ~25 us (see
    `benchmarks/README.md`). A database written by an earlier lerax (with a `metrics`
    table) is migrated at `open`: that table becomes `metric_rows`, and the `metrics`
    view shows its rows and the new events together.

    Scalars are buffered in memory and written in one transaction at most every
    `flush_secs` seconds, at `flush()` and at `close()`: a transaction per log event
    costs the writer thread far more time (most of it the commit) than one per second
    (see `benchmarks/README.md`). A reader sees the metrics at most `flush_secs` late; a
    process killed before `close` loses at most the last `flush_secs` of them (its
    run stays `'running'`). `flush_secs=0` writes every call at once.

    Args:
        path: The database file (created, with its folder, at `open`).
        flush_secs: Most seconds scalars wait in memory before they are written (>= 0).

    Raises:
        TypeError: `path` is not a path, or `flush_secs` is not a number.
        ValueError: `path` is empty or `":memory:"` (a store must outlive the process),
            or `flush_secs` is negative.
    """

    def __init__(self, path: str | os.PathLike = "lerax_runs.db", flush_secs: float = 1.0):
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path must be a str or os.PathLike, got {path!r}")
        if os.fspath(path) in ("", ":memory:"):
            raise ValueError(f"path must name a database file, got {path!r}")
        if isinstance(flush_secs, bool) or not isinstance(flush_secs, int | float):
            raise TypeError(f"flush_secs must be a number >= 0, got {flush_secs!r}")
        if not flush_secs >= 0:
            raise ValueError(f"flush_secs must be a number >= 0, got {flush_secs!r}")
        self.path = os.fspath(path)
        self.flush_secs = float(flush_secs)
        self._connection: sqlite3.Connection | None = None
        self._run_id: int | None = None
        self._hparams: dict[str, Any] = {}
        self._failed = False
        self._interrupted = False
        self._pending: list[tuple] = []
        self._flushed = 0.0

    @property
    def run_id(self) -> int | None:
        """The open run's row id in `runs` (`None` before the first `open`)."""
        return self._run_id

    def open(self, name: str, *, metadata: dict[str, Any] | None = None) -> None:
        if self._connection is not None:
            raise RuntimeError("SQLiteBackend is already open; close it (or copy it) first")
        metadata = dict(metadata or {})
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        connection = connect(self.path)
        try:
            with _transaction(connection):
                create_schema(connection)
                cursor = connection.execute(
                    "INSERT INTO runs (name, algorithm, env, metadata, start_time, status) "
                    "VALUES (?, ?, ?, ?, ?, 'running')",
                    (
                        str(name),
                        _text(metadata.get("algorithm")),
                        _text(metadata.get("env")),
                        _json(metadata),
                        time.time(),
                    ),
                )
        except BaseException:
            connection.close()
            raise
        self._connection, self._run_id = connection, cursor.lastrowid
        self._hparams, self._failed, self._interrupted = {}, False, False
        self._pending, self._flushed = [], time.monotonic()

    def log_hparams(self, hparams: dict[str, Any]) -> None:
        self.flush()

        def rows():
            self._hparams.update({str(k): _plain(v) for k, v in hparams.items()})
            return [(_json(self._hparams), self._run_id)]

        self._write("UPDATE runs SET hparams = ? WHERE id = ?", rows)

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        if self._connection is None:
            raise RuntimeError("SQLiteBackend is not open; call open(name) first")
        try:
            self._pending.append((self._run_id, int(step), scalars_json(scalars)))
        except BaseException:
            self._failed = True
            raise
        if time.monotonic() - self._flushed >= self.flush_secs:
            self.flush()

    def flush(self) -> None:
        """Write the buffered scalars now (one transaction)."""
        rows, self._pending = self._pending, []
        self._flushed = time.monotonic()
        if rows:
            self._write(_INSERT_EVENT, lambda: rows)

    def log_video(self, tag: str, frames: np.ndarray, step: int, fps: float) -> None:
        self.flush()

        def rows():
            num_frames, height, width = (int(n) for n in np.shape(frames)[:3])
            return [(self._run_id, int(step), str(tag), num_frames, height, width, float(fps))]

        self._write(
            "INSERT INTO videos (run_id, step, tag, num_frames, height, width, fps) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def mark_interrupted(self) -> None:
        """Record that the training call ended early; `close` then sets the run's
        status to `'interrupted'` (called by `LoggingCallback`'s session)."""
        self._interrupted = True

    def close(self) -> None:
        if self._connection is None:
            return
        error = None
        try:
            self.flush()
        except Exception as failed:  # noqa: BLE001 - marked failed; close the run, then raise
            error = failed
        connection, self._connection = self._connection, None
        try:
            with _transaction(connection):
                connection.execute(
                    "UPDATE runs SET end_time = ?, status = ? WHERE id = ?",
                    (time.time(), self._status(), self._run_id),
                )
        finally:
            connection.close()
        if error is not None:
            raise error

    def _status(self) -> str:
        if self._failed:
            return "failed"
        return "interrupted" if self._interrupted else "finished"

    def _write(self, sql: str, rows: Callable[[], list[tuple]]) -> None:
        """Run `sql` over `rows()` in one transaction; any failure marks the run failed."""
        if self._connection is None:
            raise RuntimeError("SQLiteBackend is not open; call open(name) first")
        try:
            values = rows()
            with _transaction(self._connection):
                self._connection.executemany(sql, values)
        except BaseException:
            self._failed = True
            raise


class _transaction:
    """`BEGIN IMMEDIATE` ... `COMMIT` (or `ROLLBACK` on error) on an autocommit connection.

    IMMEDIATE takes the write lock up front, so concurrent writers queue on the busy
    timeout instead of failing on a read-to-write lock upgrade.
    """

    def __init__(self, connection: sqlite3.Connection):
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self.connection.execute("BEGIN IMMEDIATE")
        return self.connection

    def __exit__(self, kind, error, trace) -> None:
        self.connection.execute("ROLLBACK" if kind is not None else "COMMIT")


def create_schema(connection: sqlite3.Connection) -> None:
    """Create the tables and the `metrics` view where missing (inside a transaction);
    a `metrics` table of an earlier lerax becomes `metric_rows`, shown by the view."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            connection.execute(statement)
    row = connection.execute("SELECT type FROM sqlite_master WHERE name = 'metrics'").fetchone()
    if row is None:
        connection.execute(METRICS_VIEW)
    elif row[0] == "table":
        connection.execute("ALTER TABLE metrics RENAME TO metric_rows")
        connection.execute(_LEGACY_METRICS_VIEW)


_NON_FINITE = {"nan": "null", "inf": "1e999", "-inf": "-1e999"}


@functools.lru_cache(maxsize=256)
def _json_template(keys: tuple[str, ...]) -> str:
    """`{"key":%s,...}`: the keys of an event's JSON object, with a `%s` per value."""
    return "{" + ",".join(json.dumps(str(k)).replace("%", "%%") + ":%s" for k in keys) + "}"


def scalars_json(scalars: dict[str, float]) -> str:
    """`scalars` as a JSON object: NaN as `null`, +-inf as `+-1e999` (valid JSON that
    SQLite's `json_each` reads back as infinities), every float exactly (`repr`).

    Raises:
        TypeError, ValueError: a value that is not a real number.
    """
    values = tuple(map(float, scalars.values()))
    texts = tuple(map(repr, values))
    if not all(map(math.isfinite, values)):
        texts = tuple(_NON_FINITE.get(text, text) for text in texts)
    return _json_template(tuple(scalars)) % texts


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _json(values: dict[str, Any]) -> str:
    return json.dumps({k: _plain(v) for k, v in values.items()}, default=str)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
