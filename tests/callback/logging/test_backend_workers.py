"""Backends cannot hold training hostage: one worker per backend, deadlines, isolation."""

from __future__ import annotations

import sqlite3
import threading
import time

import jax.random as jr
import pytest
from _logging_helpers import RecordingBackend

from lerax.algorithm import PPO
from lerax.callback.logging import LoggingCallback, SQLiteBackend
from lerax.callback.logging._backend_workers import BackendWorkers
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

NUM_ENVS, NUM_STEPS, ITERATIONS = 2, 16, 4
ENV = CartPole()
POLICY = MLPActorCriticPolicy(env=ENV, key=jr.key(0))
ALGO = PPO(num_envs=NUM_ENVS, num_steps=NUM_STEPS, num_epochs=1, num_minibatches=1)


@pytest.fixture(autouse=True)
def _clear():
    RecordingBackend.opened.clear()
    yield
    RecordingBackend.opened.clear()


def _learn(logger):
    ALGO.learn(ENV, POLICY, NUM_ENVS * NUM_STEPS * ITERATIONS, key=jr.key(1), callback=logger)


def _sql_events(db, name):
    with sqlite3.connect(db) as connection:
        (status,) = connection.execute("SELECT status FROM runs WHERE name = ?", (name,)).fetchone()
        steps = connection.execute(
            "SELECT m.step FROM metrics m JOIN runs r ON r.id = m.run_id "
            "WHERE r.name = ? AND m.key = 'time/iteration' ORDER BY m.step",
            (name,),
        ).fetchall()
    return status, [step for (step,) in steps]


def _threads():
    """Python's threads, not counting foreign ones (XLA's host-callback threads show up
    as `_DummyThread`s the first time they call into Python; they are not ours)."""
    return sum(not isinstance(t, threading._DummyThread) for t in threading.enumerate())


def _wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


class BlockingBackend(RecordingBackend):
    """Its first `log_scalars` blocks until `release` is set."""

    def __init__(self):
        super().__init__()
        self.entered, self.release, self.returned = (threading.Event() for _ in range(3))

    def log_scalars(self, scalars, step):
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait()
            self.returned.set()
        super().log_scalars(scalars, step)


class ExitingBackend(RecordingBackend):
    """Raises `error` in every `log_scalars` (backend code on a worker thread)."""

    def __init__(self, error):
        super().__init__()
        self.error, self.calls = error, 0

    def log_scalars(self, scalars, step):
        self.calls += 1
        raise self.error


def test_a_blocked_backend_does_not_hold_learn_beyond_close_timeout(tmp_path, capfd):
    db = tmp_path / "runs.db"
    blocking = BlockingBackend()
    logger = LoggingCallback([blocking, SQLiteBackend(db)], name="blocked", close_timeout=0.5)
    threads = _threads()

    _learn(logger)

    (stuck,) = [b for b in RecordingBackend.opened if isinstance(b, BlockingBackend)]
    assert stuck.entered.is_set() and not stuck.returned.is_set(), "learn returned while blocked"
    err = capfd.readouterr().err
    assert err.count("lerax: logging backend BlockingBackend is still busy in log_scalars") == 1
    assert f"had not written {ITERATIONS} event(s)" in err, err
    # The other backend got every event, and closed its run.
    status, steps = _sql_events(db, "blocked")
    assert status == "finished"
    assert steps == [NUM_ENVS * NUM_STEPS * (i + 1) for i in range(ITERATIONS)]
    assert _threads() == threads + 1, [t.name for t in threading.enumerate()]

    blocking.release.set()
    assert _wait_for(lambda: _threads() == threads), "the worker thread ends"
    assert stuck.closed, "a backend left behind still closes once its call returns"
    assert len(stuck.scalars) == 1, "its pending events were dropped, as reported"


@pytest.mark.parametrize(
    "error", [SystemExit(3), KeyboardInterrupt()], ids=lambda e: type(e).__name__
)
def test_a_backend_raising_system_exit_is_disabled_and_the_others_go_on(error, tmp_path, capfd):
    db = tmp_path / "runs.db"
    good = RecordingBackend()
    logger = LoggingCallback([ExitingBackend(error), SQLiteBackend(db), good], name="exiting")
    threads = _threads()

    _learn(logger)  # returns: neither exception reaches training

    (exiting,) = [b for b in RecordingBackend.opened if isinstance(b, ExitingBackend)]
    (healthy,) = [b for b in RecordingBackend.opened if type(b) is RecordingBackend]
    assert exiting.calls == 1 and exiting.closed, "disabled after its first failure, still closed"
    assert [step for step, _ in healthy.scalars] == _sql_events(db, "exiting")[1]
    assert len(healthy.scalars) == ITERATIONS and healthy.closed
    err = capfd.readouterr().err
    name = type(error).__name__
    assert err.count("logging backend ExitingBackend failed in log_scalars") == 1, err
    assert err.count(name) >= 1 and "training and the other backends continue" in err
    assert _threads() == threads


def test_each_slot_keeps_its_order_and_runs_beside_the_others():
    workers = BackendWorkers(["Slow", "Fast"])
    seen: dict[int, list[int]] = {0: [], 1: []}
    gate = threading.Event()
    workers.submit(0, "log_scalars", gate.wait)
    for n in range(50):
        workers.submit(0, "log_scalars", seen[0].append, n)
        workers.submit(1, "log_scalars", seen[1].append, n)
    assert _wait_for(lambda: len(seen[1]) == 50), "slot 1 does not wait for slot 0"
    assert seen[0] == []
    gate.set()
    assert workers.close(5.0) == {}
    assert seen == {0: list(range(50)), 1: list(range(50))}


def test_close_waits_at_most_the_timeout_per_backend_and_counts_unwritten_events(capfd):
    threads = _threads()
    workers = BackendWorkers(["Stuck", "AlsoStuck", "Fine"])
    gate = threading.Event()
    closed = []
    for i in (0, 1):
        workers.submit(i, "log_video", gate.wait)
        for _ in range(3 + i):
            workers.submit(i, "log_scalars", lambda: None)
        workers.submit(i, "close", closed.append, i)
    workers.submit(2, "log_scalars", lambda: None)
    workers.submit(2, "close", closed.append, 2)
    start = time.monotonic()
    assert workers.close(0.3) == {0: 4, 1: 5}
    assert time.monotonic() - start < 1.0, "the backends' deadlines run side by side"
    err = capfd.readouterr().err
    assert "backend Stuck is still busy in log_video after close_timeout=0.3 s" in err
    assert "had not written 4 event(s)" in err and "had not written 5 event(s)" in err
    assert "Fine" not in err and closed == [2]
    assert set(workers.disabled) == {0, 1}
    start = time.monotonic()
    assert workers.close(0.3) == {}, "a backend left behind is not waited for twice"
    assert time.monotonic() - start < 0.2 and "still busy" not in capfd.readouterr().err
    workers.submit(0, "log_scalars", pytest.fail, "a backend left behind gets no more calls")
    gate.set()
    assert _wait_for(lambda: _threads() == threads)
    assert sorted(closed) == [0, 1, 2]


def test_drain_without_close_reports_but_keeps_the_backend(capfd):
    workers = BackendWorkers(["Slow"])
    gate = threading.Event()
    done = []
    workers.submit(0, "log_scalars", gate.wait)
    workers.submit(0, "log_scalars", done.append, 1)
    assert workers.drain(0.2) == {0: 2}
    assert "goes on writing in the background" in capfd.readouterr().err
    assert workers.disabled == {}
    gate.set()
    assert workers.close(5.0) == {} and done == [1]


@pytest.mark.parametrize("value", [0, -1.0, True, "10", float("nan")])
def test_close_timeout_must_be_a_positive_number(value):
    with pytest.raises(ValueError, match="`close_timeout` must be a number of seconds > 0"):
        LoggingCallback(RecordingBackend(), close_timeout=value)
