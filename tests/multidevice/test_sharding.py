"""Seeds and envs sharded over 4 (simulated) devices give the single-device results:
same policies (float tolerance), same stops, same logged series, one host call per
log event."""

from __future__ import annotations

import jax
import jax.random as jr
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from lerax import host
from lerax.algorithm import PPO, trainable
from lerax.callback import EarlyStopping, LoggingCallback, ProgressBarCallback, SQLiteBackend
from lerax.callback.logging import list_runs, load_metrics
from lerax.env import CartPole
from lerax.population import train_population

ENV = CartPole()
ITERATIONS = 6
KEYS = ("episode/return_mean", "episode/count", "train/loss", "reward/moving_avg")


def _policy():
    from lerax.policy import MLPActorCriticPolicy

    return MLPActorCriticPolicy(env=ENV, key=jr.key(0))


LOG_CHANNEL = "0/logging/log"  # the logger is the first callback of the list


def _callbacks(db, name):
    logger = LoggingCallback(SQLiteBackend(db), name=name)
    return logger, [logger, EarlyStopping(30.0, patience=2), ProgressBarCallback()]


def _assert_close(a, b):
    for x, y in zip(jax.tree.leaves(trainable(a)), jax.tree.leaves(trainable(b)), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)


def _assert_same_series(db, run_a, run_b):
    a, b = load_metrics(db, run_a), load_metrics(db, run_b)
    assert set(a) == set(b)
    for key in KEYS:
        np.testing.assert_array_equal(a[key][0], b[key][0], err_msg=key)
        np.testing.assert_allclose(a[key][1], b[key][1], rtol=1e-5, atol=1e-5, err_msg=key)


def _population(db, name, algo, num_seeds, **sharding):
    logger, callbacks = _callbacks(db, name)
    before = host.host_calls(LOG_CHANNEL)
    population = train_population(
        algo, ENV, _policy(), algo.steps_per_iteration * ITERATIONS, key=jr.key(3),
        num_seeds=num_seeds, callback=callbacks, **sharding,
    )  # fmt: skip
    return population, host.host_calls(LOG_CHANNEL) - before


def test_four_devices():
    assert jax.device_count() == 4


def test_seeds_sharded_over_devices_equal_one_device(tmp_path):
    db = tmp_path / "runs.db"
    algo = PPO(num_envs=2, num_steps=32, num_epochs=1, num_minibatches=1)
    ref, ref_calls = _population(db, "one", algo, 8)
    out, calls = _population(db, "four", algo, 8, shard="seeds")
    weight = out.policy.actor.layers[0].kernel
    assert len(weight.sharding.device_set) == 4 and not weight.sharding.is_fully_replicated
    _assert_close(ref.policy, out.policy)
    assert np.array_equal(np.asarray(ref.iteration), np.asarray(out.iteration))
    assert np.array_equal(np.asarray(ref.stopped), np.asarray(out.stopped))
    assert np.asarray(out.stopped).any(), "the fixed keys make some members stop early"
    # Log events cross in batches, one host call for all devices (not one per device).
    assert 1 <= calls <= ITERATIONS and 1 <= ref_calls <= ITERATIONS
    names = {run["name"] for run in list_runs(db)}
    assert {f"four/seed_{i}" for i in range(8)} | {"four/aggregate"} <= names
    for member in [*(f"seed_{i}" for i in range(8)), "aggregate"]:
        if member == "aggregate":
            a, b = load_metrics(db, f"one/{member}"), load_metrics(db, f"four/{member}")
            for key in ("episode/return_mean/mean", "episode/return_mean/iqm"):
                np.testing.assert_allclose(a[key][1], b[key][1], rtol=1e-5, err_msg=key)
        else:
            _assert_same_series(db, f"one/{member}", f"four/{member}")


def test_envs_sharded_over_devices_equal_one_device(tmp_path):
    db = tmp_path / "runs.db"
    algo = PPO(num_envs=8, num_steps=16, num_epochs=1, num_minibatches=2)
    total = algo.steps_per_iteration * ITERATIONS
    mesh = jax.make_mesh((4,), ("envs",))
    sharding = NamedSharding(mesh, PartitionSpec("envs"))
    results = {}
    for name, kwargs in (("one", {}), ("four", {"env_sharding": sharding})):
        logger, callbacks = _callbacks(db, name)
        before = host.host_calls(LOG_CHANNEL)
        state = algo.init(ENV, _policy(), total, key=jr.key(5), callback=callbacks, **kwargs)
        state = algo.train(state, callback=callbacks, **kwargs)
        results[name] = (state, host.host_calls(LOG_CHANNEL) - before)
    (ref, ref_calls), (out, calls) = results["one"], results["four"]
    assert out.observation.sharding.spec == PartitionSpec("envs")
    assert len(out.observation.sharding.device_set) == 4
    assert out.policy.actor.layers[0].kernel.sharding.is_fully_replicated
    _assert_close(ref.policy, out.policy)
    np.testing.assert_allclose(np.asarray(ref.observation), np.asarray(out.observation), atol=1e-5)
    assert int(ref.iteration) == int(out.iteration) and bool(ref.stopped) == bool(out.stopped)
    assert 1 <= calls <= int(ref.iteration) and 1 <= ref_calls <= int(ref.iteration)
    _assert_same_series(db, "one", "four")


def test_user_mesh_of_seeds_by_envs_equals_one_device(tmp_path):
    db = tmp_path / "runs.db"
    algo = PPO(num_envs=4, num_steps=16, num_epochs=1, num_minibatches=1)
    mesh = jax.make_mesh((2, 2), ("seeds", "envs"))
    ref, ref_calls = _population(db, "one", algo, 2)
    out, calls = _population(db, "mesh", algo, 2, mesh=mesh, seed_axis="seeds", env_axis="envs")
    assert out.state.observation.sharding.spec == PartitionSpec("seeds", "envs")
    _assert_close(ref.policy, out.policy)
    assert np.array_equal(np.asarray(ref.iteration), np.asarray(out.iteration))
    assert 1 <= calls <= ITERATIONS and 1 <= ref_calls <= ITERATIONS
    for i in range(2):
        _assert_same_series(db, f"one/seed_{i}", f"mesh/seed_{i}")


def test_device_counts_that_do_not_divide_are_rejected():
    algo = PPO(num_envs=6, num_steps=16, num_epochs=1, num_minibatches=1)
    with pytest.raises(ValueError, match="num_seeds"):
        train_population(algo, ENV, _policy(), 96, key=jr.key(0), num_seeds=6, shard="seeds")
    with pytest.raises(ValueError, match="num_envs"):
        train_population(algo, ENV, _policy(), 96, key=jr.key(0), shard="envs")
