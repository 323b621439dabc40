"""Every script in examples/ runs with a reduced budget, and does what it says.

Each runs in a subprocess (a fresh interpreter, like a user running it) inside a
temporary working directory, with `--timesteps` cut to a few iterations; the test
checks what the script prints and the files it writes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TIMEOUT_S = 900


def run_example(name: str, *args: str, cwd: Path) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.setdefault("WANDB_MODE", "offline")
    env.setdefault("WANDB_SILENT", "true")
    env.setdefault("COMET_ERROR_TRACKING_ENABLE", "false")
    env.setdefault("MPLBACKEND", "Agg")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    if result.returncode != 0:
        pytest.fail(
            f"examples/{name} failed ({result.returncode})\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-4000:]}",
            pytrace=False,
        )
    return result.stdout


def test_every_example_is_tested():
    tested = {
        "train_ppo_cartpole.py",
        "early_stopping.py",
        "checkpoint_and_resume.py",
        "record_videos.py",
        "logging_backends.py",
        "many_seeds.py",
        "custom_callback.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_train_ppo_cartpole(tmp_path):
    out = run_example("train_ppo_cartpole.py", "--timesteps", "2048", cwd=tmp_path)
    assert "trained for 2048 steps" in out
    saved = float(re.search(r"greedy evaluation: mean return ([\d.]+)", out)[1])
    reloaded = float(re.search(r"reloaded policy mean return ([\d.]+)", out)[1])
    assert saved == reloaded and 1.0 <= saved <= 500.0
    assert (tmp_path / "runs" / "train_ppo_cartpole" / "policy" / "checkpoint.npz").is_file()


def test_early_stopping_stops_before_the_budget(tmp_path):
    # A low target that PPO reaches within a few iterations: it must stop early.
    out = run_example(
        "early_stopping.py",
        "--timesteps",
        "16384",
        "--target",
        "30",
        "--patience",
        "2",
        cwd=tmp_path,
    )
    match = re.search(
        r"iterations run: (\d+) of (\d+); timesteps: (\d+); stopped early: (\w+)", out
    )
    run, planned, steps, stopped = int(match[1]), int(match[2]), int(match[3]), match[4]
    assert planned == 32 and stopped == "True" and 2 <= run < planned and steps == run * 512
    assert "reason: TARGET_REACHED" in out
    assert float(re.search(r"last measured mean return: ([\d.]+)", out)[1]) >= 30.0


def test_checkpoint_and_resume_is_exact(tmp_path):
    out = run_example(
        "checkpoint_and_resume.py", "--timesteps", "4096", "--frequency", "2", cwd=tmp_path
    )
    saves = tmp_path / "runs" / "checkpoint_and_resume" / "cartpole" / "saves"
    assert sorted(p.name for p in saves.iterdir()) == [
        "CartPole_2",
        "CartPole_4",
        "CartPole_6",
        "CartPole_final",
        "completed.json",
        "model_config.json",
    ]
    assert "resuming from CartPole_2: iteration 2" in out
    assert "resumed to iteration 8; bitwise equal to one run: True" in out


def test_record_videos(tmp_path):
    out = run_example("record_videos.py", "--timesteps", "2048", "--frequency", "2", cwd=tmp_path)
    videos = tmp_path / "runs" / "record_videos" / "cartpole" / "videos"
    names = sorted(p.name for p in videos.iterdir())
    assert names == [
        "CartPole-v1-final.mp4",
        "CartPole-v1-iteration-2.mp4",
        "CartPole-v1-iteration-4.mp4",
    ]
    assert all((videos / n).stat().st_size > 0 for n in names)
    assert out.count(".mp4") == 3


def test_logging_backends(tmp_path):
    out = run_example(
        "logging_backends.py",
        "--timesteps",
        "2048",
        "--log-interval",
        "2",
        "--wandb",
        cwd=tmp_path,
    )
    assert "run 1: ppo-cartpole (finished)" in out
    assert "2 events" in out  # 4 iterations, an event every 2
    assert "last time/timesteps: 2048.000 at step 2048" in out
    base = tmp_path / "runs" / "logging_backends"
    events = list((base / "tensorboard" / "ppo-cartpole").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    assert list((base / "wandb").glob("offline-run-*"))


def test_many_seeds_and_the_plot(tmp_path):
    out = run_example("many_seeds.py", "--timesteps", "2048", "--seeds", "3", cwd=tmp_path)
    assert len(re.findall(r"seed \d: greedy mean return [\d.]+", out)) == 3
    assert "3 seeds, 2 points" in out  # 4 iterations logged every 2
    with Image.open(tmp_path / "runs" / "many_seeds" / "curves.png") as image:
        image.load()
        assert image.size == (800, 500)
    low, high = (float(x) for x in re.search(r"band ([\d.]+) to ([\d.]+)", out).groups())
    mean = float(re.search(r"final mean ([\d.]+)", out)[1])
    assert low <= mean <= high


def test_custom_callback(tmp_path):
    # max_kl=0: every update moves the policy, so both runs stop after one iteration.
    out = run_example(
        "custom_callback.py", "--timesteps", "2048", "--max-kl", "0", "--seeds", "2", cwd=tmp_path
    )
    assert "total actions: 512 = timesteps 512" in out  # 4 envs x 128 steps, counted per env
    assert "iterations: 1 of 4; stopped on KL: True" in out
    assert out.count("1 iterations, stopped: True") == 2
