"""The `lerax train` command line, run in-process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import jax
import numpy as np
import pytest

from lerax.cli import main
from lerax.policy import MLPActorCriticPolicy, load_policy


def test_train_logs_checkpoints_saves_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = [
        "train",
        "ppo",
        "CartPole",
        "--timesteps",
        "2048",
        "--num-envs",
        "2",
        "--log-every",
        "2",
    ]
    assert main([*args, "--checkpoint", "cli", "--checkpoint-every", "4", "--output", "p"]) == 0
    out = capsys.readouterr().out
    assert (
        "step 2,048/2,048 (100.0%)" in out
        and "policy saved to p (load it with lerax.load_policy('p'))" in out
    )
    first = load_policy(tmp_path / "p")  # no template needed
    with sqlite3.connect(tmp_path / "lerax_runs.db") as db:
        (runs,) = db.execute("SELECT COUNT(*) FROM runs WHERE status = 'finished'").fetchone()
        (events,) = db.execute(
            "SELECT COUNT(*) FROM metrics WHERE key = 'time/timesteps'"
        ).fetchone()
    assert runs == 1 and events == 4  # 8 iterations of 256 steps, logged every 2
    saves = tmp_path / "checkpoints" / "cli" / "saves"
    assert (saves / "CartPole_4").is_dir() and (saves / "CartPole_final").is_dir()

    assert main([*args, "--resume", str(saves / "CartPole_4"), "--output", "q", "--no-db"]) == 0
    resumed = load_policy(tmp_path / "q")
    for a, b in zip(first.actor.layers, resumed.actor.layers, strict=True):
        assert np.array_equal(np.asarray(a.kernel), np.asarray(b.kernel))


@pytest.mark.parametrize("bad", [["train", "sac", "CartPole"], ["train", "ppo", "Walker"]])
def test_bad_choices_are_rejected(bad, capsys):
    with pytest.raises(SystemExit):
        main(bad)
    assert "invalid choice" in capsys.readouterr().err


def test_seeds_and_sweep_train_one_population_with_member_and_aggregate_runs(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    args = ["train", "ppo", "CartPole", "--timesteps", "1024", "--num-envs", "2"]
    args += ["--log-every", "2", "--eval-episodes", "2", "--checkpoint", "grid"]
    args += ["--checkpoint-every", "2", "--seeds", "2"]
    args += ["--sweep", "learning_rate=1e-3,3e-4", "--sweep", "gamma=0.99"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 config(s) x 2 seed(s) in one program" in out
    assert "learning_rate=0.001, gamma=0.99: evaluation return over 2 seed(s)" in out
    assert "learning_rate=0.0003, gamma=0.99" in out and "saved to CartPole_ppo" in out
    with sqlite3.connect(tmp_path / "lerax_runs.db") as db:
        runs = dict(db.execute("SELECT name, hparams FROM runs").fetchall())
        (events,) = db.execute(
            "SELECT COUNT(*) FROM metrics m JOIN runs r ON r.id = m.run_id "
            "WHERE r.name LIKE '%/aggregate_0' AND m.key = 'episode/return_mean/iqm'"
        ).fetchone()
    suffixes = sorted(name.rsplit("/", 1)[1] for name in runs)
    assert suffixes == ["0_0", "0_1", "1_0", "1_1", "aggregate_0", "aggregate_1"]
    lr = {name.rsplit("/", 1)[1]: json.loads(h)["learning_rate"] for name, h in runs.items()}
    assert lr["1_0"] == lr["1_1"] == lr["aggregate_1"] == pytest.approx(3e-4)
    assert lr["0_1"] == lr["aggregate_0"] == pytest.approx(1e-3)
    assert events == 2  # 4 iterations of 256 steps, logged every 2
    for member in ("0_0", "0_1", "1_0", "1_1"):
        assert (tmp_path / "checkpoints" / "grid" / member / "saves" / "CartPole_final").is_dir()
    best = load_policy(tmp_path / "CartPole_ppo")
    assert best.actor.layers[0].kernel.shape == (4, 64)  # one member, no member axes


def test_seeds_alone_give_seed_runs_and_one_aggregate(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["train", "ppo", "CartPole", "--timesteps", "512", "--num-envs", "2"]
    assert main([*args, "--seeds", "8", "--eval-episodes", "2"]) == 0
    assert "1 config(s) x 8 seed(s)" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "lerax_runs.db") as db:
        names = [n for (n,) in db.execute("SELECT name FROM runs")]
    assert sorted(n.rsplit("/", 1)[1] for n in names) == sorted(
        [f"seed_{i}" for i in range(8)] + ["aggregate"]
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sweep", "num_envs=2,4"], "static"),
        (["--sweep", "learning_rate"], "NAME=V1,V2"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--seeds", "2", "--resume", "x"], "cannot be combined"),
    ],
)
def test_bad_population_arguments_are_reported(extra, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "ppo", "CartPole", "--timesteps", "512", *extra]) == 2
    assert message in capsys.readouterr().out


def test_cpu_devices_below_one_is_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "ppo", "CartPole", "--timesteps", "512", "--cpu-devices", "0"]) == 2
    assert "--cpu-devices must be >= 1, got 0" in capsys.readouterr().out


def test_cpu_devices_after_jax_started_is_reported(tmp_path, monkeypatch, capsys):
    jax.devices()  # this test process has started JAX with one CPU device
    monkeypatch.chdir(tmp_path)
    args = ["train", "ppo", "CartPole", "--timesteps", "512", "--cpu-devices", "3"]
    assert main(args) == 2
    assert "JAX already started with 1 device(s)" in capsys.readouterr().out


def test_cpu_devices_shard_the_seeds_over_the_cores(tmp_path):
    """A fresh process: `--cpu-devices 2 --shard seeds` trains 2 seeds, one per device."""
    args = ["train", "ppo", "CartPole", "--timesteps", "1024", "--seeds", "2", "--no-db"]
    args += ["--shard", "seeds", "--cpu-devices", "2", "--eval-episodes", "2"]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    done = subprocess.run(
        [sys.executable, "-m", "lerax", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 device(s), shard=seeds" in done.stdout
    assert "2 members in" in done.stdout
    assert isinstance(load_policy(tmp_path / "CartPole_ppo"), MLPActorCriticPolicy)
