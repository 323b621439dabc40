"""The `lerax train` command line, run in-process."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time

import jax
import jax.random as jr
import numpy as np
import pytest

from lerax.callback.logging._console import PLAIN_INTERVAL
from lerax.cli import main
from lerax.policy import MLPActorCriticPolicy, load_policy


def test_train_logs_checkpoints_saves_and_resumes(
    tmp_path, monkeypatch, capsys, as_saved_by_an_older_version
):
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
        "--set",
        "num_steps=128",
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

    # A checkpoint whose callback states another lerax version wrote (here: event
    # buffers without `next_flush`) resumes too: the callbacks start afresh anyway.
    as_saved_by_an_older_version(saves / "CartPole_4", ":EventBuffer", "next_flush")
    assert main([*args, "--resume", str(saves / "CartPole_4"), "--output", "r", "--no-db"]) == 0
    again = load_policy(tmp_path / "r")
    for a, b in zip(first.actor.layers, again.actor.layers, strict=True):
        assert np.array_equal(np.asarray(a.kernel), np.asarray(b.kernel))


def test_unknown_algorithm_is_an_argparse_choice(capsys):
    with pytest.raises(SystemExit):
        main(["train", "td3", "CartPole"])
    assert "invalid choice: 'td3'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            ["train", "sac", "CartPole"],
            "sac needs continuous actions and CartPole has Discrete actions; accepted envs "
            "for sac: Pendulum, MountainCarContinuous",
        ),
        (
            ["train", "dqn", "Pendulum"],
            "accepted envs for dqn: CartPole, Acrobot, MountainCar",
        ),
        (["train", "ppo", "Walker"], "unknown env 'Walker'; accepted: CartPole, Acrobot"),
    ],
)
def test_wrong_env_is_one_line_naming_the_accepted_envs(bad, message, capsys):
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # ~20 s of subprocesses or compilation: CI's slow stage
def test_seeds_and_sweep_train_one_population_with_member_and_aggregate_runs(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    args = ["train", "ppo", "CartPole", "--timesteps", "1024", "--num-envs", "2"]
    args += ["--log-every", "2", "--eval-episodes", "2", "--checkpoint", "grid"]
    args += ["--checkpoint-every", "2", "--seeds", "2", "--set", "num_steps=128"]
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
    out = capsys.readouterr().out
    assert "1 config(s) x 8 seed(s)" in out
    # The console shows the aggregate only, with the best and the worst member.
    progress = [line for line in out.splitlines() if re.match(r"\[\S+\] step ", line)]
    assert progress and all(line.split("]")[0].endswith("/aggregate") for line in progress)
    assert re.search(r"\| best \S+/seed_\d \S+ \| worst \S+/seed_\d ", progress[-1])
    with sqlite3.connect(tmp_path / "lerax_runs.db") as db:
        names = [n for (n,) in db.execute("SELECT name FROM runs")]
    assert sorted(n.rsplit("/", 1)[1] for n in names) == sorted(
        [f"seed_{i}" for i in range(8)] + ["aggregate"]
    )


def test_non_terminal_output_is_paced_by_time(tmp_path, monkeypatch, capsys):
    """DQN logs every iteration (one env step each): 2,000 events, but a pipe or file
    gets a line per few seconds (`PLAIN_INTERVAL`) plus the last one."""
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    args = ["train", "dqn", "CartPole", "--timesteps", "2000", "--log-every", "1", "--no-db"]
    settings = ["num_envs=1", "learning_starts=100", "train_freq=1", "gradient_steps=1"]
    assert main([*args, *(x for v in settings for x in ("--set", v))]) == 0
    wall = time.monotonic() - start
    progress = [line for line in capsys.readouterr().out.splitlines() if "] step " in line]
    assert 1 <= len(progress) <= 2 + wall / PLAIN_INTERVAL
    assert "step 2,000/2,000" in progress[-1]


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
    assert message in capsys.readouterr().err


def test_cpu_devices_below_one_is_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "ppo", "CartPole", "--timesteps", "512", "--cpu-devices", "0"]) == 2
    assert "--cpu-devices must be >= 1, got 0" in capsys.readouterr().err


def test_cpu_devices_after_jax_started_is_reported(tmp_path, monkeypatch, capsys):
    jax.devices()  # this test process has started JAX with one CPU device
    monkeypatch.chdir(tmp_path)
    args = ["train", "ppo", "CartPole", "--timesteps", "512", "--cpu-devices", "3"]
    assert main(args) == 2
    assert "JAX already started with 1 device(s)" in capsys.readouterr().err


def _environment_without_device_count() -> dict[str, str]:
    """This process's environment minus any simulated CPU device count in `XLA_FLAGS`
    (the CLI's `--cpu-devices` sets its own); other XLA flags are kept."""
    env = dict(os.environ)
    flags = [
        flag
        for flag in env.pop("XLA_FLAGS", "").split()
        if not flag.startswith("--xla_force_host_platform_device_count")
    ]
    if flags:
        env["XLA_FLAGS"] = " ".join(flags)
    return env


@pytest.mark.slow  # ~20 s of subprocesses or compilation: CI's slow stage
def test_cpu_devices_shard_the_seeds_over_the_cores(tmp_path):
    """A fresh process: `--cpu-devices 2 --shard seeds` trains 2 seeds, one per device."""
    args = ["train", "ppo", "CartPole", "--timesteps", "1024", "--seeds", "2", "--no-db"]
    args += ["--shard", "seeds", "--cpu-devices", "2", "--eval-episodes", "2"]
    env = _environment_without_device_count()
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


def _lerax(*argv: str, cwd) -> subprocess.CompletedProcess:
    env = _environment_without_device_count()
    return subprocess.run(
        [sys.executable, "-m", "lerax", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ppo", "CartPole", "--timesteps", "100"], "--timesteps 100 is below one iteration"),
        (["ppo", "CartPole", "--timesteps", "-1000"], "use --timesteps 256 or more"),
        (["ppo", "CartPole", "--resume", "does/not/exist"], "--resume:"),
        (["ppo", "CartPole", "--set", "learning_rate=fast"], "`learning_rate` must be a number"),
        (["ppo", "CartPole", "--set", "nope=1"], "PPO has no hyper-parameter 'nope'"),
        (["ppo", "CartPole", "--set", "gamma"], "expected NAME=VALUE"),
        (["ppo", "gymnax:Nope-v0"], "gymnax cannot make 'Nope-v0'"),
        (["a2c", "CartPole", "--num-envs", "0"], "--num-envs must be >= 1, got 0"),
        (["dqn", "CartPole", "--set", "loss=l1"], "`loss` must be one of"),
    ],
)
def test_user_errors_are_one_line_with_status_2_and_no_traceback(argv, message, tmp_path):
    done = _lerax("train", *argv, "--no-db", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lerax: ") and message in lines[0]


def test_debug_shows_the_traceback(tmp_path):
    done = _lerax("train", "ppo", "CartPole", "--timesteps", "100", "--debug", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" in done.stderr and "UserError" in done.stderr


def test_help_shows_every_default(tmp_path):
    done = _lerax("train", "--help", cwd=tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for default in (
        "(default: 0)",  # --seed
        "(default: lerax_runs.db)",
        "(default: 100)",  # --checkpoint-every
        "(default: 20)",  # --eval-episodes
        "default: the table's",
    ):
        assert default in text, default


def test_zoo_lists_the_table(tmp_path):
    done = _lerax("zoo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert ["ppo", "CartPole", "100,000", "500", "@", "100,000"] == rows[1][:6]
    assert (
        rows[0][-1] == "normalize"
        and rows[1][-1] == "no"
        and rows[3][:2]
        == [
            "ppo",
            "MountainCar",
        ]
    )
    assert rows[3][-1] == "yes"
    assert sum(row[0] in ("ppo", "a2c", "dqn", "sac") for row in rows[1:]) == 15


def test_results_json_and_set_override(tmp_path):
    """One subprocess run: `--set` reaches the algorithm (8 envs x 16 steps = 128 steps
    per iteration), `--results` holds what the issue asks for, the summary names every
    output."""
    args = ["train", "ppo", "CartPole", "--timesteps", "1024", "--set", "num_steps=16"]
    args += ["--set", "learning_rate=3e-4", "--results", "r.json", "--eval-episodes", "3"]
    args += ["--checkpoint", "ck", "--checkpoint-every", "4"]
    done = _lerax(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "lerax: compiling the training program ..." in out
    assert re.search(r"lerax: compiled in \d+\.\d s; training", out)
    assert "plot: lerax plot --db lerax_runs.db --output curves.png" in out
    assert "resume: lerax train ppo CartPole --resume ck" in out
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["algorithm"] == "ppo" and record["env"] == "CartPole"
    assert record["hyperparameters"]["num_steps"] == 16
    assert record["hyperparameters"]["learning_rate"] == pytest.approx(3e-4)
    assert record["hyperparameters"]["num_envs"] == 8  # from the table
    assert record["timesteps"] == 1024
    assert 0 < record["compile_seconds"] < record["wall_seconds"]
    (value,) = record["eval_returns"]
    assert record["mean"] == record["iqm"] == record["min"] == record["max"] == value
    assert 8 <= value <= 500  # CartPole returns
    with sqlite3.connect(tmp_path / "lerax_runs.db") as db:
        (iterations,) = db.execute(
            "SELECT MAX(value) FROM metrics WHERE key = 'time/iteration'"
        ).fetchone()
    assert iterations == 8  # 1024 / (8 x 16)


@pytest.mark.slow  # ~20 s of subprocesses or compilation: CI's slow stage
def test_a_normalised_entry_saves_the_policy_with_its_statistics(tmp_path):
    """a2c MountainCar trains behind NormalizeObservation/NormalizeReward: the saved
    policy carries the observation statistics and acts on the plain env; with
    `--set normalize=false` it is the bare MLP policy."""
    from lerax.env import MountainCar
    from lerax.policy import ObservationNormalizedPolicy, evaluate_policy

    args = ["train", "a2c", "MountainCar", "--timesteps", "2000", "--eval-episodes", "2"]
    done = _lerax(*args, "--results", "r.json", "--output", "norm", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    policy = load_policy(tmp_path / "norm")
    assert type(policy) is ObservationNormalizedPolicy
    assert policy.observation_space == MountainCar().observation_space
    # Pooled over the 16 envs: each env's first observation and its 125 steps.
    assert float(policy.statistics.count) == 16 * (1 + 125)
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["normalize"] is True
    (value,) = record["eval_returns"]
    returns, _ = evaluate_policy(MountainCar(), policy, num_episodes=2, key=jr.key(0))
    assert -200.0 <= value <= -1.0 and returns.shape == (2,)
    done = _lerax(*args, "--set", "normalize=false", "--no-db", "--output", "bare", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert type(load_policy(tmp_path / "bare")) is MLPActorCriticPolicy
