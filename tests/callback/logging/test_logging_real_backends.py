"""LoggingCallback with real backends, read back with their own readers."""

from __future__ import annotations

import sqlite3

import jax
import jax.random as jr
import numpy as np
import pytest
from _logging_helpers import RecordRaw, reference_events
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lerax.algorithm import PPO, trainable
from lerax.callback import LoggingCallback, SQLiteBackend, TensorBoardBackend
from lerax.callback.logging import load_metrics
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

NUM_ENVS, NUM_STEPS, ITERATIONS = 2, 32, 5
ENV = CartPole()
POLICY = MLPActorCriticPolicy(env=ENV, key=jr.key(0))
ALGO = PPO(num_envs=NUM_ENVS, num_steps=NUM_STEPS, num_epochs=1, num_minibatches=1)
KEYS = ("episode/count", "episode/return_mean", "episode/return_ema", "reward/moving_avg")


def _run(callbacks, key):
    state = ALGO.init(ENV, POLICY, NUM_ENVS * NUM_STEPS * ITERATIONS, key=key, callback=callbacks)
    return ALGO.train(state, callback=callbacks)


def _tensorboard(run_dir):
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def _check_series(steps_values, expected, key):
    steps, values = steps_values
    want = [(e["time/timesteps"], e[key]) for e in expected if key in e]
    assert [int(s) for s in steps] == [s for s, _ in want], key
    np.testing.assert_allclose(values, [v for _, v in want], rtol=1e-5, atol=1e-4, err_msg=key)


def test_tensorboard_and_sqlite_series_equal_the_reference(tmp_path):
    db = tmp_path / "runs.db"
    logger = LoggingCallback(
        [TensorBoardBackend(log_dir=tmp_path / "tb"), SQLiteBackend(path=db)],
        name="real",
        video_interval=ITERATIONS,
        video_num_steps=4,
        video_width=32,
        video_height=24,
    )
    assert not (tmp_path / "tb").exists() and not db.exists()
    state = _run([logger, RecordRaw(length=NUM_STEPS * ITERATIONS)], jr.key(1))
    raw = state.callback_step_state.step_states[1]
    expected = reference_events(np.asarray(raw.rewards), np.asarray(raw.dones), NUM_STEPS, 0.9)

    acc = _tensorboard(tmp_path / "tb" / "real")
    for key in KEYS:
        events = acc.Scalars(key)
        _check_series(([e.step for e in events], [e.value for e in events]), expected, key)
    assert acc.PluginTagToContent("hparams"), "hparams in TensorBoard's HParams plugin format"
    assert acc.Tags()["images"] or acc.Tags()["tensors"], "the video should be in the event file"

    metrics = load_metrics(db, "real")
    for key in KEYS:
        _check_series(metrics[key], expected, key)
    with sqlite3.connect(db) as connection:
        (status, hparams) = connection.execute(
            "SELECT status, hparams FROM runs WHERE name = 'real'"
        ).fetchone()
        (count,) = connection.execute(
            "SELECT COUNT(*) FROM metrics m JOIN runs r ON r.id = m.run_id "
            "WHERE r.name = 'real' AND m.key = 'time/timesteps'"
        ).fetchone()
    assert status == "finished" and '"learning_rate"' in hparams
    assert count == ITERATIONS


def test_four_vmapped_seeds_give_four_runs_per_backend(tmp_path):
    db = tmp_path / "runs.db"
    logger = LoggingCallback(
        [TensorBoardBackend(log_dir=tmp_path / "tb"), SQLiteBackend(path=db)], name="pop"
    )
    states = jax.vmap(lambda k: _run([logger, RecordRaw(length=NUM_STEPS * ITERATIONS)], k))(
        jr.split(jr.key(2), 4)
    )
    raw = states.callback_step_state.step_states[1]
    series = set()
    for i in range(4):
        expected = reference_events(
            np.asarray(raw.rewards[i]), np.asarray(raw.dones[i]), NUM_STEPS, 0.9
        )
        events = _tensorboard(tmp_path / "tb" / "pop" / f"seed_{i}").Scalars("episode/count")
        _check_series(
            ([e.step for e in events], [e.value for e in events]), expected, "episode/count"
        )
        _check_series(load_metrics(db, f"pop/seed_{i}")["episode/count"], expected, "episode/count")
        series.add(tuple(e.value for e in events))
    assert len(series) > 1
    with sqlite3.connect(db) as connection:
        names = {n for (n,) in connection.execute("SELECT name FROM runs")}
    assert names == {f"pop/seed_{i}" for i in range(4)} | {"pop/aggregate"}


class _FailingTensorBoard(TensorBoardBackend):
    """Fault injection: the event directory becomes unwritable after 2 events."""

    def log_scalars(self, scalars, step):
        self._calls = getattr(self, "_calls", 0) + 1
        if self._calls > 2:
            raise OSError(30, "Read-only file system", str(self.run_dir))
        super().log_scalars(scalars, step)


def test_tensorboard_failing_mid_run_loses_nothing_else(tmp_path, capfd):
    db = tmp_path / "runs.db"
    logger = LoggingCallback(
        [_FailingTensorBoard(log_dir=tmp_path / "tb"), SQLiteBackend(path=db)], name="faulty"
    )
    trained = _run([logger], jr.key(3)).policy
    plain = _run(None, jr.key(3)).policy
    for a, b in zip(
        jax.tree.leaves(trainable(trained)), jax.tree.leaves(trainable(plain)), strict=True
    ):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    steps, _ = load_metrics(db, "faulty")["time/timesteps"]
    assert len(steps) == ITERATIONS
    assert len(_tensorboard(tmp_path / "tb" / "faulty").Scalars("time/timesteps")) == 2
    err = capfd.readouterr().err
    assert err.count("_FailingTensorBoard failed in log_scalars") == 1
    assert "Read-only file system" in err


@pytest.mark.parametrize("bad", ["runs", 3, None])
def test_backend_list_must_hold_backends(bad):
    with pytest.raises(TypeError, match="backend"):
        LoggingCallback([SQLiteBackend(), bad])
