"""train_population: seeds and seeds x sweep with every built-in callback; aggregate runs
read back from SQLite (SQL) and TensorBoard (its own reader) equal the member statistics.
"""

from __future__ import annotations

import math
import sqlite3

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lerax import host
from lerax.algorithm import PPO, trainable
from lerax.callback import (
    EarlyStopping,
    EveryN,
    LoggingCallback,
    ProgressBarCallback,
    SaveCheckpoints,
    SQLiteBackend,
    TensorBoardBackend,
)
from lerax.callback.logging import list_runs, load_metrics
from lerax.checkpoint import load
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy
from lerax.population import Population, parse_sweep, train_population

ENV = CartPole()
POLICY = MLPActorCriticPolicy(env=ENV, key=jr.key(0))
ALGO = PPO(num_envs=2, num_steps=32, num_epochs=1, num_minibatches=1)
PER_ITERATION = 64
ITERATIONS = 8
TARGET = 30.0  # some members stop early, some do not (fixed keys)
KEYS = ("episode/return_mean", "episode/count", "train/loss", "time/timesteps")


def _iqm(values):
    ordered = np.sort(values)
    cut = len(ordered) // 4
    return ordered[cut : len(ordered) - cut].mean()


def _callbacks(root, name):
    logger = LoggingCallback(
        [SQLiteBackend(root / "runs.db"), TensorBoardBackend(log_dir=root / "tb")], name=name
    )
    return logger, [
        logger,
        EarlyStopping(TARGET, patience=2),
        SaveCheckpoints(name, frequency=4, root=root),
        ProgressBarCallback(),
    ]


def _expected_aggregate(db, members, key):
    """{step: (mean, min, max, iqm)} from the member runs' series (finite values)."""
    by_step: dict[int, list[float]] = {}
    for member in members:
        steps, values = load_metrics(db, member, [key])[key]
        for s, v in zip(steps, values, strict=True):
            if math.isfinite(v):
                by_step.setdefault(int(s), []).append(float(v))
    return {s: (np.mean(v), np.min(v), np.max(v), _iqm(np.asarray(v))) for s, v in by_step.items()}


def _check_aggregate(db, tb_dir, aggregate, members):
    metrics = load_metrics(db, aggregate)
    events = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    events.Reload()
    for key in KEYS:
        want = _expected_aggregate(db, members, key)
        assert want, key
        for i, stat in enumerate(("mean", "min", "max", "iqm")):
            steps, values = metrics[f"{key}/{stat}"]
            assert [int(s) for s in steps] == sorted(want), (key, stat)
            expected = [want[s][i] for s in sorted(want)]
            np.testing.assert_allclose(values, expected, rtol=1e-12, err_msg=f"{key}/{stat}")
            scalars = events.Scalars(f"{key}/{stat}")
            assert [e.step for e in scalars] == sorted(want)
            np.testing.assert_allclose([e.value for e in scalars], expected, rtol=1e-6)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds")
    logger, callbacks = _callbacks(root, "pop")
    before = host.host_calls("0/logging/log")
    population = train_population(
        ALGO, ENV, POLICY, PER_ITERATION * ITERATIONS, key=jr.key(4), num_seeds=4,
        callback=callbacks,
    )  # fmt: skip
    calls = host.host_calls("0/logging/log") - before
    return root, population, calls


def test_seed_population_has_one_axis_and_members_stop_on_their_own(seeds):
    root, population, calls = seeds
    assert isinstance(population, Population)
    assert population.axes == ("seed",) and population.shape == (4,)
    assert population.policy.actor.layers[0].kernel.shape == (4, 4, 64)
    stopped = np.asarray(population.stopped)
    iteration = np.asarray(population.iteration)
    assert stopped.any() and not stopped.all(), "the fixed keys give a mix of stops"
    assert np.all(iteration[~stopped] == ITERATIONS) and np.all(iteration[stopped] < ITERATIONS)
    # Batched: each host call carries several events of the whole population.
    assert 1 <= calls <= ITERATIONS
    for s in range(4):  # each member logged exactly its own iterations
        steps, _ = load_metrics(root / "runs.db", f"pop/seed_{s}", ["time/timesteps"])[
            "time/timesteps"
        ]
        assert list(steps) == [PER_ITERATION * (i + 1) for i in range(iteration[s])]


def test_seed_aggregate_equals_statistics_of_the_member_runs(seeds):
    root, population, _ = seeds
    members = [f"pop/seed_{s}" for s in range(4)]
    names = {run["name"] for run in list_runs(root / "runs.db")}
    assert names == set(members) | {"pop/aggregate"}
    _check_aggregate(root / "runs.db", root / "tb" / "pop" / "aggregate", "pop/aggregate", members)
    steps, iqm = load_metrics(root / "runs.db", "pop/aggregate", ["episode/count/iqm"])[
        "episode/count/iqm"
    ]
    _, mean = load_metrics(root / "runs.db", "pop/aggregate", ["episode/count/mean"])[
        "episode/count/mean"
    ]
    assert not np.allclose(iqm, mean), "with 4 members the IQM drops the extremes"


def test_seed_members_checkpoint_to_their_own_directories(seeds):
    root, population, _ = seeds
    for s in range(4):
        saves = root / "pop" / f"seed_{s}" / "saves"
        assert (saves / "CartPole_final").is_dir()
        state = load(saves / "CartPole_final")
        assert int(state.iteration) == int(population.iteration[s])
        member = population.member(s)
        for a, b in zip(
            jax.tree.leaves(trainable(state.policy)),
            jax.tree.leaves(trainable(member.policy)),
            strict=True,
        ):
            assert np.array_equal(np.asarray(a), np.asarray(b))


def test_seed_population_equals_the_plain_vmap_recipe(seeds):
    _, population, _ = seeds
    callbacks = [EarlyStopping(TARGET, patience=2)]

    def run(key):
        state = ALGO.init(ENV, POLICY, PER_ITERATION * ITERATIONS, key=key, callback=callbacks)
        return ALGO.train(state, callback=callbacks)

    plain = jax.vmap(run)(jr.split(jr.key(4), 4))
    assert np.array_equal(np.asarray(plain.iteration), np.asarray(population.iteration))
    for a, b in zip(
        jax.tree.leaves(trainable(plain.policy)),
        jax.tree.leaves(trainable(population.policy)),
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_sweep_grid_members_hparams_group_aggregates_and_directories(tmp_path):
    logger, callbacks = _callbacks(tmp_path, "grid")
    before = host.host_calls("0/logging/log")
    population = train_population(
        ALGO, ENV, POLICY, PER_ITERATION * 4, key=jr.key(5), num_seeds=4,
        sweep={"learning_rate": [1e-3, 3e-4], "env/gravity": [9.8]}, callback=callbacks,
    )  # fmt: skip
    assert 1 <= host.host_calls("0/logging/log") - before <= 4
    assert population.axes == ("config", "seed") and population.shape == (2, 4)
    np.testing.assert_allclose(population.sweep["learning_rate"], [1e-3, 3e-4], rtol=1e-6)
    assert logger.group_axes == 0, "the caller's callback is not modified"
    db = tmp_path / "runs.db"
    runs = {run["name"]: run for run in list_runs(db)}
    members = {c: [f"grid/{c}_{s}" for s in range(4)] for c in range(2)}
    assert set(runs) == {m for ms in members.values() for m in ms} | {
        "grid/aggregate_0",
        "grid/aggregate_1",
    }
    for c, rate in enumerate((1e-3, 3e-4)):
        for name in [*members[c], f"grid/aggregate_{c}"]:
            assert runs[name]["hparams"]["learning_rate"] == pytest.approx(rate), name
            assert runs[name]["hparams"]["env/gravity"] == pytest.approx(9.8), name
        _check_aggregate(db, tmp_path / "tb" / "grid" / f"aggregate_{c}", f"grid/aggregate_{c}",
                         members[c])  # fmt: skip
        for s in range(4):
            state = load(tmp_path / "grid" / f"{c}_{s}" / "saves" / "CartPole_final")
            assert state.observation.shape == (2, 4)  # a plain run: no member axes
            assert int(state.iteration) == int(population.iteration[c, s])
    # Different learning rates train differently; seed s starts from the same key in both.
    assert not np.allclose(
        population.policy.actor.layers[0].kernel[0], population.policy.actor.layers[0].kernel[1]
    )


def test_sweep_groups_a_logging_callback_nested_in_another_callback(tmp_path):
    """The sweep's grouping reaches a LoggingCallback inside EveryN (it travels in the
    run description; no callback is rewritten)."""
    logger = LoggingCallback(SQLiteBackend(tmp_path / "runs.db"), name="nested")
    train_population(
        ALGO, ENV, POLICY, PER_ITERATION * 2, key=jr.key(7), num_seeds=2,
        sweep={"learning_rate": [1e-3, 3e-4]}, callback=EveryN(logger, iterations=1),
    )  # fmt: skip
    names = {run["name"] for run in list_runs(tmp_path / "runs.db")}
    members = {f"nested/{c}_{s}" for c in range(2) for s in range(2)}
    assert names == members | {"nested/aggregate_0", "nested/aggregate_1"}
    assert logger.group_axes == 0


def test_policy_factory_gives_every_seed_its_own_initial_weights():
    population = train_population(
        ALGO, ENV, lambda k: MLPActorCriticPolicy(env=ENV, key=k), PER_ITERATION,
        key=jr.key(6), num_seeds=2,
    )  # fmt: skip
    weights = population.policy.actor.layers[0].kernel
    assert weights.shape == (2, 4, 64) and not np.allclose(weights[0], weights[1])


def test_group_axes_without_nesting_falls_back_to_one_aggregate(tmp_path):
    logger = LoggingCallback(SQLiteBackend(tmp_path / "runs.db"), name="flat", group_axes=1)
    jax.vmap(lambda k: ALGO.learn(ENV, POLICY, PER_ITERATION, key=k, callback=logger))(
        jr.split(jr.key(7), 2)
    )
    names = {run["name"] for run in list_runs(tmp_path / "runs.db")}
    assert names == {"flat/seed_0", "flat/seed_1", "flat/aggregate"}
    with sqlite3.connect(tmp_path / "runs.db") as connection:
        keys = {k for (k,) in connection.execute("SELECT DISTINCT key FROM metrics")}
    assert "episode/return_ema/iqm" in keys


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sweep": {"num_envs": [2, 4]}}, ValueError, "static"),
        ({"sweep": {"lr": [1e-3]}}, ValueError, "no such field"),
        ({"sweep": {"learning_rate": [-1.0]}}, ValueError, "learning_rate"),
        ({"sweep": {"learning_rate": "1e-3"}}, TypeError, "learning_rate"),
        ({"sweep": {"env/gravity": []}}, TypeError, "gravity"),
        ({"num_seeds": 0}, ValueError, "num_seeds"),
        ({"shard": "gpus"}, ValueError, "shard"),
        ({"seed_axis": "seeds"}, ValueError, "mesh"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        train_population(ALGO, ENV, POLICY, PER_ITERATION, key=jr.key(0), **kwargs)


def test_group_axes_must_be_a_non_negative_int():
    with pytest.raises(ValueError, match="group_axes"):
        LoggingCallback(SQLiteBackend("x.db"), group_axes=-1)


def test_parse_sweep():
    assert parse_sweep(["learning_rate=1e-3,3e-4", "gamma=0.9"]) == {
        "learning_rate": [1e-3, 3e-4],
        "gamma": [0.9],
    }
    for bad in (["learning_rate"], ["learning_rate=a,b"], ["gamma=0.9", "gamma=0.99"]):
        with pytest.raises(ValueError, match="sweep"):
            parse_sweep(bad)


def test_population_member_needs_one_index_per_axis(seeds):
    _, population, _ = seeds
    with pytest.raises(IndexError, match="one index per axis"):
        population.member(0, 1)
    assert population.member(2).iteration.shape == ()
    assert jnp.asarray(population.member(2).iteration) == population.iteration[2]
