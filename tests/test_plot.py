"""`lerax.plot`: aggregation numbers, reading SQLite and TensorBoard runs, the PNG."""

from __future__ import annotations

import argparse
import sys

import jax
import jax.random as jr
import numpy as np
import pytest
from PIL import Image

from lerax.callback import LoggingCallback, SQLiteBackend, TensorBoardBackend
from lerax.plot import (
    add_plot_subparser,
    aggregate_curves,
    list_sources,
    main,
    plot_learning_curves,
)


def _png_size(path) -> tuple[int, int]:
    assert path.stat().st_size > 0
    with Image.open(path) as image:
        image.load()  # decodes the whole file
        assert image.format == "PNG"
        return image.size


def _write_runs(backend_factory, runs: dict[str, list[tuple[int, float]]]) -> None:
    """Write runs through a real backend, without training: {name: [(step, value)]}."""
    for name, points in runs.items():
        backend = backend_factory()
        backend.open(name, metadata={})
        for step, value in points:
            backend.log_scalars({"episode/return_mean": value, "train/loss": -value}, step)
        backend.close()


POPULATION = {
    "sweep/seed_0": [(100, 1.0), (200, 3.0), (300, 5.0)],
    "sweep/seed_1": [(100, 3.0), (200, 5.0), (300, 9.0)],
    "sweep/seed_2": [(100, 2.0), (200, float("nan")), (300, 7.0)],
    "sweep/aggregate": [(100, 99.0), (200, 99.0), (300, 99.0)],
    "solo": [(50, 10.0), (150, 20.0)],
}


# ---- aggregation --------------------------------------------------------------------


def test_mean_and_minmax_band_on_shared_steps():
    a = (np.array([0, 10, 20]), np.array([1.0, 2.0, 3.0]))
    b = (np.array([0, 10, 20]), np.array([3.0, 6.0, 9.0]))
    c = (np.array([0, 10, 20]), np.array([2.0, 4.0, 0.0]))
    curve = aggregate_curves([a, b, c], label="x")
    np.testing.assert_array_equal(curve.steps, [0, 10, 20])
    np.testing.assert_allclose(curve.mean, [2.0, 4.0, 4.0])
    np.testing.assert_allclose(curve.low, [1.0, 2.0, 0.0])
    np.testing.assert_allclose(curve.high, [3.0, 6.0, 9.0])
    np.testing.assert_array_equal(curve.count, [3, 3, 3])
    assert curve.label == "x" and curve.members == ("0", "1", "2")


def test_iqr_band_matches_numpy_percentiles():
    values = np.array([[1.0], [2.0], [4.0], [8.0], [16.0]])
    series = [(np.array([5]), v) for v in values]
    curve = aggregate_curves(series, band="iqr")
    # numpy's linear percentiles of [1, 2, 4, 8, 16]: 25th = 2, 75th = 8
    np.testing.assert_allclose(curve.low, [2.0])
    np.testing.assert_allclose(curve.high, [8.0])
    np.testing.assert_allclose(curve.mean, [6.2])
    none = aggregate_curves(series, band="none")
    np.testing.assert_allclose(none.low, none.mean)
    np.testing.assert_allclose(none.high, none.mean)


def test_different_step_grids_interpolate_and_members_drop_out_after_their_last_step():
    early = (np.array([0, 100]), np.array([0.0, 10.0]))  # stopped after step 100
    late = (np.array([0, 50, 200]), np.array([4.0, 4.0, 8.0]))
    curve = aggregate_curves([early, late])
    np.testing.assert_array_equal(curve.steps, [0, 50, 100, 200])
    # step 50: early interpolates to 5.0; step 100: late interpolates to 4 + 4 * 50/150
    np.testing.assert_allclose(curve.mean, [2.0, 4.5, (10.0 + 4.0 + 4.0 / 3.0) / 2, 8.0])
    np.testing.assert_array_equal(curve.count, [2, 2, 2, 1])
    np.testing.assert_allclose(curve.low[-1], 8.0)
    np.testing.assert_allclose(curve.high[-1], 8.0)


def test_nan_values_are_skipped_not_propagated():
    a = (np.array([0, 10, 20]), np.array([np.nan, 2.0, 4.0]))
    b = (np.array([0, 10, 20]), np.array([1.0, np.nan, 3.0]))
    curve = aggregate_curves([a, b])
    np.testing.assert_array_equal(curve.steps, [0, 10, 20])
    np.testing.assert_allclose(curve.mean, [1.0, 2.0, 3.5])  # b at 10 interpolates to 2.0
    np.testing.assert_array_equal(curve.count, [1, 2, 2])
    empty = aggregate_curves([(np.array([1]), np.array([np.nan]))])
    assert empty.steps.size == 0 and empty.mean.size == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"series": [], "band": "minmax"}, ValueError),
        ({"series": [(np.zeros(2), np.zeros(3))], "band": "minmax"}, ValueError),
        ({"series": [(np.zeros(2), np.zeros(2))], "band": "std"}, ValueError),
    ],
)
def test_aggregate_rejects_bad_input(kwargs, error):
    with pytest.raises(error):
        aggregate_curves(kwargs["series"], band=kwargs["band"])


# ---- files --------------------------------------------------------------------------


def test_sqlite_population_is_one_curve_and_the_png_has_the_requested_size(tmp_path):
    db = tmp_path / "runs.db"
    _write_runs(lambda: SQLiteBackend(db), POPULATION)
    assert list_sources(db) == {
        "sweep": ["sweep/seed_0", "sweep/seed_1", "sweep/seed_2"],
        "solo": ["solo"],
    }
    output = tmp_path / "out" / "curves.png"
    curves = plot_learning_curves(db, output=output, width=640, height=360)
    assert _png_size(output) == (640, 360)
    sweep = curves["sweep"]
    np.testing.assert_array_equal(sweep.steps, [100, 200, 300])
    # seed_2's NaN at step 200 is skipped; it interpolates to 4.5 between 2.0 and 7.0
    np.testing.assert_allclose(sweep.mean, [2.0, (3.0 + 5.0 + 4.5) / 3, 7.0])
    np.testing.assert_allclose(sweep.low, [1.0, 3.0, 5.0])
    np.testing.assert_allclose(sweep.high, [3.0, 5.0, 9.0])
    np.testing.assert_array_equal(sweep.count, [3, 3, 3])
    np.testing.assert_allclose(curves["solo"].mean, [10.0, 20.0])


def test_runs_selects_groups_single_runs_and_labelled_seed_sets(tmp_path):
    db = tmp_path / "runs.db"
    _write_runs(lambda: SQLiteBackend(db), POPULATION)
    only = plot_learning_curves(db, "train/loss", tmp_path / "a.png", runs=["solo"])
    assert list(only) == ["solo"]
    np.testing.assert_allclose(only["solo"].mean, [-10.0, -20.0])
    labelled = plot_learning_curves(
        db, output=tmp_path / "b.png", runs={"two seeds": ["sweep/seed_0", "sweep/seed_1"]}
    )
    np.testing.assert_allclose(labelled["two seeds"].mean, [2.0, 4.0, 7.0])
    assert labelled["two seeds"].members == ("sweep/seed_0", "sweep/seed_1")
    with pytest.raises(ValueError, match="no run named 'nope'"):
        plot_learning_curves(db, output=tmp_path / "c.png", runs=["nope"])
    with pytest.raises(TypeError):
        plot_learning_curves(db, output=tmp_path / "c.png", runs="solo")
    with pytest.raises(ValueError, match="train/loss"):  # the error lists existing metrics
        plot_learning_curves(db, "episode/length_mean", tmp_path / "c.png")


def test_a_sweep_is_one_curve_per_hyperparameter_value_over_its_seeds(tmp_path):
    # vmap(values) of vmap(seeds): <name>/<value index>_<seed index>; aggregates skipped
    db = tmp_path / "runs.db"
    runs = {
        "grid/0_0": [(10, 1.0)],
        "grid/0_1": [(10, 3.0)],
        "grid/1_0": [(10, 10.0)],
        "grid/1_1": [(10, 20.0)],
        "grid/1_2": [(10, 30.0)],
        "grid/aggregate_0": [(10, 99.0)],
        "grid/aggregate_1": [(10, 99.0)],
        "grid/aggregate": [(10, 99.0)],
    }
    _write_runs(lambda: SQLiteBackend(db), runs)
    assert list_sources(db) == {
        "grid/0": ["grid/0_0", "grid/0_1"],
        "grid/1": ["grid/1_0", "grid/1_1", "grid/1_2"],
    }
    curves = plot_learning_curves(db, output=tmp_path / "grid.png")
    np.testing.assert_allclose(curves["grid/0"].mean, [2.0])
    np.testing.assert_allclose(curves["grid/1"].mean, [20.0])
    np.testing.assert_allclose([curves["grid/1"].low[0], curves["grid/1"].high[0]], [10.0, 30.0])


def test_the_newest_run_of_a_repeated_name_is_used(tmp_path):
    db = tmp_path / "runs.db"
    _write_runs(lambda: SQLiteBackend(db), {"again": [(1, 1.0)]})
    _write_runs(lambda: SQLiteBackend(db), {"again": [(1, 5.0), (2, 6.0)]})
    curves = plot_learning_curves(db, output=tmp_path / "a.png")
    np.testing.assert_allclose(curves["again"].mean, [5.0, 6.0])


def test_tensorboard_logs_give_the_same_curves(tmp_path):
    pytest.importorskip("tensorboard")
    log_dir = tmp_path / "tb"
    _write_runs(lambda: TensorBoardBackend(log_dir), POPULATION)
    assert list_sources(log_dir) == {
        "solo": ["solo"],
        "sweep": ["sweep/seed_0", "sweep/seed_1", "sweep/seed_2"],
    }
    output = tmp_path / "tb.png"
    curves = plot_learning_curves(log_dir, output=output, band="iqr", width=500, height=300)
    assert _png_size(output) == (500, 300)
    np.testing.assert_allclose(curves["sweep"].mean, [2.0, (3.0 + 5.0 + 4.5) / 3, 7.0])
    np.testing.assert_allclose(curves["sweep"].low, [1.5, 3.75, 6.0])  # of 3, 4.5, 5 at 200
    np.testing.assert_allclose(curves["sweep"].high, [2.5, 4.75, 8.0])


def test_in_memory_series(tmp_path):
    output = tmp_path / "mem.png"
    curves = plot_learning_curves(
        {"a": [([0, 1], [1.0, 2.0]), ([0, 1], [3.0, 4.0])]}, "return", output
    )
    np.testing.assert_allclose(curves["a"].mean, [2.0, 3.0])
    assert _png_size(output) == (800, 500)


def test_a_real_vmapped_population(tmp_path):
    from lerax.algorithm import PPO
    from lerax.env import CartPole
    from lerax.policy import MLPActorCriticPolicy

    db = tmp_path / "runs.db"
    env, algo = CartPole(), PPO(num_envs=2, num_steps=64)
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    logger = LoggingCallback(SQLiteBackend(db), name="pop")
    jax.vmap(lambda k: algo.learn(env, policy, 128 * 6, key=k, callback=logger))(
        jr.split(jr.key(1), 3)
    )
    curves = plot_learning_curves(db, "time/timesteps", tmp_path / "pop.png")
    assert list(curves) == ["pop"] and curves["pop"].members == tuple(
        f"pop/seed_{i}" for i in range(3)
    )
    np.testing.assert_array_equal(curves["pop"].steps, 128 * np.arange(1, 7))
    np.testing.assert_allclose(curves["pop"].mean, 128 * np.arange(1, 7))
    returns = plot_learning_curves(db, output=tmp_path / "ret.png")["pop"]
    assert returns.steps.size > 0 and np.all(returns.low <= returns.mean)
    assert np.all(returns.mean <= returns.high) and returns.count.max() == 3


# ---- errors and the command line ----------------------------------------------------


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"lerax\[plot\]"):
        plot_learning_curves({"a": [([0], [1.0])]}, output=tmp_path / "x.png")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"band": "std"}, ValueError),
        ({"width": 0}, ValueError),
        ({"height": 2.5}, ValueError),
        ({"metric": ""}, TypeError),
    ],
)
def test_bad_arguments(tmp_path, kwargs, error):
    with pytest.raises(error):
        plot_learning_curves({"a": [([0], [1.0])]}, output=tmp_path / "x.png", **kwargs)


def test_missing_source(tmp_path):
    with pytest.raises(FileNotFoundError):
        plot_learning_curves(tmp_path / "none.db", output=tmp_path / "x.png")
    with pytest.raises(TypeError):
        plot_learning_curves(42, output=tmp_path / "x.png")


def test_command_line(tmp_path, capsys):
    db = tmp_path / "runs.db"
    _write_runs(lambda: SQLiteBackend(db), POPULATION)
    output = tmp_path / "cli.png"
    argv = ["--db", str(db), "--output", str(output), "--width", "400", "--height", "300"]
    assert main([*argv, "--band", "iqr", "--runs", "sweep"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert _png_size(output) == (400, 300)
    assert main(["--db", str(db), "--list"]) == 0
    listed = capsys.readouterr().out
    assert "sweep: 3 run(s)" in listed and "episode/return_mean" in listed
    assert main(["--db", str(tmp_path / "none.db")]) == 1
    assert "no SQLite database" in capsys.readouterr().out

    parser = argparse.ArgumentParser(prog="lerax")
    add_plot_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["plot", "--db", "x.db", "--metric", "train/loss"])
    assert (args.command, args.metric, args.band) == ("plot", "train/loss", "minmax")
    with pytest.raises(SystemExit):
        parser.parse_args(["plot"])  # one of --db / --tensorboard is required


def test_the_lerax_command_line_has_plot(tmp_path, capsys):
    from lerax.cli import main as lerax_main

    db = tmp_path / "runs.db"
    _write_runs(lambda: SQLiteBackend(db), POPULATION)
    output = tmp_path / "lerax.png"
    argv = ["plot", "--db", str(db), "--metric", "train/loss", "--output", str(output)]
    assert lerax_main([*argv, "--width", "320", "--height", "240"]) == 0
    assert _png_size(output) == (320, 240)
    assert "sweep (3 run(s)), solo (1 run(s))" in capsys.readouterr().out
