"""SQLiteBackend and its query helpers, read back with SQL and with `load_metrics`."""

from __future__ import annotations

import copy
import multiprocessing
import sqlite3
import sys
import threading

import numpy as np
import pytest

from lerax.callback.logging._query import list_runs, load_metrics, load_metrics_dataframe
from lerax.callback.logging._sqlite import SQLiteBackend

METADATA = {"algorithm": "PPO", "env": "CartPole-v1", "total_timesteps": 300}


def _write_run(path: str, name: str, steps: int, offset: float = 0.0, barrier=None) -> None:
    backend = SQLiteBackend(path)
    if barrier is not None:  # open together: races on creating the file and schema too
        barrier.wait()
    backend.open(name, metadata=METADATA)
    backend.log_hparams({"learning_rate": np.float32(0.5), "seed": name})
    for step in range(steps):
        backend.log_scalars({"a": step + offset, "b": -step - offset}, step)
    backend.close()


def test_sql_and_load_metrics(tmp_path):
    path = tmp_path / "sub" / "runs.db"
    backend = SQLiteBackend(path)
    backend.open("PPO_CartPole/seed_0", metadata={**METADATA, "member_index": (0,)})
    backend.log_hparams({"learning_rate": np.float32(0.25), "num_envs": 4})
    backend.log_hparams({"normalize": True})
    for step in (100, 200, 300):
        backend.log_scalars({"episode/return": step / 10, "loss": float("nan")}, step)
    backend.log_video("video/episode", np.zeros((5, 12, 16, 3), np.uint8), 300, 25.0)
    with sqlite3.connect(path) as connection:  # visible to readers while running
        (status,) = connection.execute("SELECT status FROM runs").fetchone()
    assert status == "running"
    backend.close()
    backend.close()  # idempotent

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        run = connection.execute(
            "SELECT id, name, algorithm, env, status, end_time >= start_time FROM runs"
        ).fetchall()
        assert run == [(backend.run_id, "PPO_CartPole/seed_0", "PPO", "CartPole-v1", "finished", 1)]
        rows = connection.execute(
            "SELECT step, value FROM metrics WHERE key = 'episode/return' ORDER BY step"
        ).fetchall()
        assert rows == [(100, 10.0), (200, 20.0), (300, 30.0)]
        assert connection.execute(
            "SELECT DISTINCT value FROM metrics WHERE key = 'loss'"
        ).fetchall() == [(None,)]
        videos = connection.execute("SELECT step, tag, num_frames, height, width, fps FROM videos")
        assert videos.fetchall() == [(300, "video/episode", 5, 12, 16, 25.0)]
        indexes = [row[1] for row in connection.execute("PRAGMA index_list(events)")]
        assert "events_run_step" in indexes
        # One row per log event; `metrics` is a view with one row per scalar.
        assert connection.execute("SELECT COUNT(*) FROM events").fetchone() == (3,)
        assert connection.execute("SELECT COUNT(*) FROM metrics").fetchone() == (6,)

    series = load_metrics(path, "PPO_CartPole/seed_0")
    assert sorted(series) == ["episode/return", "loss"]
    steps, values = series["episode/return"]
    assert steps.dtype == np.int64 and values.dtype == np.float64
    np.testing.assert_array_equal(steps, [100, 200, 300])
    np.testing.assert_allclose(values, [10.0, 20.0, 30.0])
    assert np.isnan(series["loss"][1]).all()
    only = load_metrics(path, backend.run_id, keys=["episode/return", "never"])
    assert sorted(only) == ["episode/return", "never"] and only["never"][0].size == 0

    (listed,) = list_runs(path)
    assert listed["hparams"] == {"learning_rate": 0.25, "num_envs": 4, "normalize": True}
    assert listed["metadata"]["member_index"] == [0]
    assert listed["status"] == "finished"


def test_same_name_loads_the_latest_run(tmp_path):
    path = str(tmp_path / "runs.db")
    _write_run(path, "again", 2, offset=0.0)
    _write_run(path, "again", 2, offset=10.0)
    np.testing.assert_allclose(load_metrics(path, "again")["a"][1], [10.0, 11.0])
    first = list_runs(path)[0]["id"]
    np.testing.assert_allclose(load_metrics(path, first)["a"][1], [0.0, 1.0])
    with pytest.raises(ValueError, match="no run 'missing'"):
        load_metrics(path, "missing")
    with pytest.raises(FileNotFoundError):
        load_metrics(tmp_path / "absent.db", "again")
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.parametrize("fault", ["bad value", "broken database"])
def test_failed_write_marks_the_run_failed(tmp_path, fault):
    path = tmp_path / "runs.db"
    backend = SQLiteBackend(path, flush_secs=0)
    backend.open("broken")
    backend.log_scalars({"a": 1.0}, 0)
    if fault == "bad value":
        with pytest.raises(TypeError):
            backend.log_scalars({"a": object()}, 1)
    else:
        with sqlite3.connect(path) as connection:
            connection.execute("ALTER TABLE events RENAME TO gone")
        with pytest.raises(sqlite3.OperationalError, match="events"):
            backend.log_scalars({"a": 2.0}, 2)
        with sqlite3.connect(path) as connection:
            connection.execute("ALTER TABLE gone RENAME TO events")
    backend.close()
    (run,) = list_runs(path)
    assert run["status"] == "failed"
    assert load_metrics(path, "broken")["a"][0].tolist() == [0]


def test_values_and_keys_round_trip_exactly(tmp_path):
    """Every float comes back bit for bit (float32 values too), NaN as NULL/NaN,
    infinities as infinities; keys with JSON's and %-formatting's special characters
    come back as they were."""
    path = tmp_path / "runs.db"
    values = {
        "plain": 0.1,
        "float32": float(np.float32(0.37)),
        "tiny": 5e-324,
        "huge": 1.7976931348623157e308,
        "nan": float("nan"),
        "inf": float("inf"),
        "-inf": float("-inf"),
        'quote " and \\ backslash': -2.5,
        "100%s %d": 3.0,
        "ünïcode/ключ": 4.0,
        "integer": np.int64(7),
    }
    backend = SQLiteBackend(path, flush_secs=0)
    backend.open("exact")
    backend.log_scalars(values, 11)
    backend.close()
    with sqlite3.connect(path) as connection:
        stored = dict(connection.execute("SELECT key, value FROM metrics WHERE step = 11"))
    assert set(stored) == set(values)
    assert stored["nan"] is None
    for key, value in values.items():
        if key != "nan":
            assert stored[key] == float(value) and isinstance(stored[key], float), key
    loaded = load_metrics(path, "exact")
    assert np.isnan(loaded["nan"][1][0]) and loaded["-inf"][1][0] == -np.inf


def test_a_database_of_an_earlier_lerax_is_migrated(tmp_path):
    """A file with the per-scalar `metrics` table of earlier versions: its rows stay
    readable through the `metrics` view, beside the runs written since."""
    path = tmp_path / "runs.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, "
            "algorithm TEXT, env TEXT, hparams TEXT NOT NULL DEFAULT '{}', "
            "metadata TEXT NOT NULL DEFAULT '{}', start_time REAL NOT NULL, end_time REAL, "
            "status TEXT NOT NULL);"
            "CREATE TABLE metrics (run_id INTEGER NOT NULL REFERENCES runs (id), "
            "step INTEGER NOT NULL, key TEXT NOT NULL, value REAL);"
            "CREATE INDEX metrics_run_key_step ON metrics (run_id, key, step);"
            "INSERT INTO runs (name, start_time, end_time, status) "
            "VALUES ('old', 1, 2, 'finished');"
            "INSERT INTO metrics VALUES (1, 10, 'a', 1.5), (1, 20, 'a', 2.5), (1, 10, 'b', NULL);"
        )
    _write_run(str(path), "new", 3)
    _write_run(str(path), "newer", 1)  # the second open finds the view: nothing to migrate
    old = load_metrics(path, "old")
    np.testing.assert_array_equal(old["a"][0], [10, 20])
    np.testing.assert_allclose(old["a"][1], [1.5, 2.5])
    assert np.isnan(old["b"][1]).all()
    np.testing.assert_allclose(load_metrics(path, "new")["b"][1], [0.0, -1.0, -2.0])
    with sqlite3.connect(path) as connection:
        kinds = dict(
            connection.execute("SELECT name, type FROM sqlite_master WHERE name LIKE 'metric%'")
        )
        counts = dict(
            connection.execute(
                "SELECT runs.name, COUNT(*) FROM metrics JOIN runs ON runs.id = metrics.run_id "
                "GROUP BY runs.name"
            )
        )
    assert kinds == {"metrics": "view", "metric_rows": "table", "metrics_run_key_step": "index"}
    assert counts == {"old": 3, "new": 6, "newer": 2}
    assert [run["name"] for run in list_runs(path)] == ["old", "new", "newer"]


def test_scalars_are_buffered_until_flush_secs_flush_or_close(tmp_path):
    path = tmp_path / "runs.db"

    def stored() -> list[tuple]:
        with sqlite3.connect(path) as connection:
            return connection.execute("SELECT step, value FROM metrics ORDER BY step").fetchall()

    backend = SQLiteBackend(path, flush_secs=3600)
    backend.open("buffered")
    backend.log_scalars({"a": 1.0}, 1)
    backend.log_scalars({"a": 2.0}, 2)
    assert stored() == []  # waiting in memory
    backend.flush()
    assert stored() == [(1, 1.0), (2, 2.0)]
    backend.log_scalars({"a": 3.0}, 3)
    backend.log_video("v", np.zeros((1, 2, 2, 3), np.uint8), 3, 10.0)  # writes what waits
    assert stored() == [(1, 1.0), (2, 2.0), (3, 3.0)]
    backend.log_scalars({"a": 4.0}, 4)
    backend.close()
    assert stored() == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]
    assert list_runs(path)[0]["status"] == "finished"

    immediate = SQLiteBackend(tmp_path / "now.db", flush_secs=0)
    immediate.open("now")
    immediate.log_scalars({"a": 5.0}, 5)
    with sqlite3.connect(tmp_path / "now.db") as connection:
        assert connection.execute("SELECT step, value FROM metrics").fetchall() == [(5, 5.0)]
    immediate.close()


def test_a_failed_buffered_write_raises_at_close_and_marks_the_run_failed(tmp_path):
    path = tmp_path / "runs.db"
    backend = SQLiteBackend(path, flush_secs=3600)
    backend.open("late")
    backend.log_scalars({"a": 1.0}, 0)
    backend.flush()
    backend.log_scalars({"a": 2.0}, 1)
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE events RENAME TO gone")
    with pytest.raises(sqlite3.OperationalError, match="events"):
        backend.close()
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE gone RENAME TO events")
    (run,) = list_runs(path)
    assert run["status"] == "failed"
    assert load_metrics(path, "late")["a"][0].tolist() == [0]
    backend.close()  # closed already: nothing happens


def test_concurrent_threads(tmp_path):
    path = str(tmp_path / "runs.db")
    template = SQLiteBackend(path)
    steps = 200

    def member(i):
        backend = copy.copy(template)
        backend.open(f"T/seed_{i}", metadata=METADATA)
        for step in range(steps):
            backend.log_scalars({"a": float(step), "i": float(i)}, step)
        backend.close()

    threads = [threading.Thread(target=member, args=(i,)) for i in range(4)]  # one file
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = list_runs(path)
    assert sorted(run["name"] for run in runs) == [f"T/seed_{i}" for i in range(4)]
    assert all(run["status"] == "finished" for run in runs)
    for i in range(4):
        series = load_metrics(path, f"T/seed_{i}")
        np.testing.assert_array_equal(series["a"][0], np.arange(steps))
        np.testing.assert_array_equal(series["i"][1], np.full(steps, i))


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # JAX's warning; spawn execs
def test_concurrent_processes(tmp_path):
    """Two spawned processes and this one create and fill the same file at once."""
    path = str(tmp_path / "runs.db")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(3)
    processes = [
        context.Process(target=_write_run, args=(path, f"P/{i}", 300, 1000.0 * i, barrier))
        for i in (1, 2)
    ]
    for process in processes:
        process.start()
    _write_run(path, "P/0", 300, 0.0, barrier)
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0, 0]
    with sqlite3.connect(path) as connection:
        counts = dict(
            connection.execute(
                "SELECT runs.name, COUNT(*) FROM metrics "
                "JOIN runs ON runs.id = run_id GROUP BY name"
            ).fetchall()
        )
    assert counts == {f"P/{i}": 600 for i in range(3)}
    for i in range(3):
        values = load_metrics(path, f"P/{i}")["a"][1]
        np.testing.assert_allclose(values, np.arange(300) + 1000.0 * i)


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # JAX's warning; spawn execs
def test_two_processes_logging_the_same_name_keep_both_runs(tmp_path):
    """A run is a row with its own id: a shared name (and second) collides nowhere."""
    path = str(tmp_path / "runs.db")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    process = context.Process(target=_write_run, args=(path, "same", 100, 1000.0, barrier))
    process.start()
    _write_run(path, "same", 100, 0.0, barrier)
    process.join(60)
    assert process.exitcode == 0
    runs = list_runs(path)
    assert [(run["name"], run["status"]) for run in runs] == [("same", "finished")] * 2
    series = sorted(load_metrics(path, run["id"])["a"][1].tolist() for run in runs)
    assert series == [list(np.arange(100.0)), list(np.arange(100.0) + 1000.0)]


def test_dataframe(tmp_path, monkeypatch):
    path = str(tmp_path / "runs.db")
    _write_run(path, "one", 3)
    _write_run(path, "two", 2, offset=5.0)
    pandas = pytest.importorskip("pandas")
    frame = load_metrics_dataframe(path, keys=["a"])
    assert list(frame.columns) == ["run_id", "run", "step", "key", "value"]
    assert frame["run"].tolist() == ["one"] * 3 + ["two"] * 2
    assert frame["value"].tolist() == [0.0, 1.0, 2.0, 5.0, 6.0]
    wide = load_metrics_dataframe(path, "one").pivot_table(
        index="step", columns="key", values="value"
    )
    assert isinstance(wide, pandas.DataFrame) and wide["b"].tolist() == [0.0, -1.0, -2.0]
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pandas"):
        load_metrics_dataframe(path)


def test_construction_creates_nothing_and_validates(tmp_path):
    backend = SQLiteBackend(tmp_path / "never" / "runs.db")
    assert not (tmp_path / "never").exists()
    assert backend.config() == {
        "type": "SQLiteBackend",
        "path": str(tmp_path / "never/runs.db"),
        "flush_secs": 1.0,
    }
    with pytest.raises(TypeError, match="path"):
        SQLiteBackend(3)
    with pytest.raises(ValueError, match="path"):
        SQLiteBackend(":memory:")
    with pytest.raises(TypeError, match="flush_secs"):
        SQLiteBackend(tmp_path / "x.db", flush_secs="1")
    with pytest.raises(ValueError, match="flush_secs"):
        SQLiteBackend(tmp_path / "x.db", flush_secs=-1)
    with pytest.raises(RuntimeError, match="not open"):
        SQLiteBackend(tmp_path / "x.db").log_scalars({"a": 1.0}, 0)
    backend = SQLiteBackend(tmp_path / "x.db")
    backend.open("r")
    with pytest.raises(RuntimeError, match="already open"):
        backend.open("r")
    backend.close()
