"""`lerax train --output` writes a policy `lerax.load_policy` reads; `--resume` finds
the newest save from a run's name or directory (`latest_checkpoint`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import lerax
from lerax.checkpoint import CheckpointError, latest_checkpoint, save
from lerax.cli import main
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

ROOT = Path(__file__).resolve().parents[2]


def test_train_output_then_load_policy_and_predict(tmp_path):
    command = [sys.executable, "-m", "lerax", "train", "ppo", "CartPole", "--timesteps", "1024"]
    command += ["--num-envs", "2", "--no-db", "--eval-episodes", "2", "--output", "out/pol"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "policy saved to out/pol (load it with lerax.load_policy('out/pol'))" in done.stdout
    policy = lerax.load_policy(tmp_path / "out" / "pol")  # no template
    assert isinstance(policy, MLPActorCriticPolicy)
    observations = jnp.asarray([[0.0, 0.0, 0.05, 0.0], [0.0, 0.0, -0.05, 0.0]])
    actions = np.asarray([policy.predict(o) for o in observations])
    assert actions.dtype.kind == "i" and set(actions.tolist()) <= {0, 1}
    meta = lerax.checkpoint.read_metadata(tmp_path / "out" / "pol")
    assert meta["kind"] == "policy" and meta["env"] == "CartPole-v1"
    assert meta["policy_class"] == "lerax.policy._actor_critic.MLPActorCriticPolicy"


def _saves(tmp_path: Path, name: str, iterations: list[int], final: int | None) -> Path:
    saves = tmp_path / "checkpoints" / name / "saves"
    for i in iterations:
        save(saves / f"CartPole_{i}", {"v": jnp.asarray(i)}, metadata={"iteration": i})
    if final is not None:
        save(saves / "CartPole_final", {"v": jnp.asarray(final)}, metadata={"iteration": final})
    return saves


def test_latest_checkpoint_accepts_a_name_a_run_directory_or_one_save(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    saves = _saves(tmp_path, "run", [2, 10, 4], final=None)
    (saves / ".CartPole_12.tmp-abc").mkdir()  # a killed writer's temporary is ignored
    (saves / "model_config.json").write_text("{}")
    newest = Path("checkpoints/run/saves/CartPole_10")
    assert latest_checkpoint("run") == newest
    assert latest_checkpoint("checkpoints/run") == newest
    assert latest_checkpoint("checkpoints/run/saves") == newest
    assert latest_checkpoint(saves / "CartPole_2") == saves / "CartPole_2"
    _saves(tmp_path, "run", [], final=11)
    assert latest_checkpoint("run").name == "CartPole_final"


def test_nothing_to_resume_lists_what_exists(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _saves(tmp_path, "alpha", [1], final=None)
    _saves(tmp_path, "beta", [1], final=None)
    with pytest.raises(CheckpointError, match=r"runs under 'checkpoints': alpha, beta"):
        latest_checkpoint("gamma")
    (tmp_path / "checkpoints" / "empty" / "saves").mkdir(parents=True)
    with pytest.raises(CheckpointError, match=r"no readable save in .*empty/saves"):
        latest_checkpoint("empty")
    population = tmp_path / "checkpoints" / "pop"
    for member in ("seed_0", "seed_1"):
        save(population / member / "saves" / "CartPole_1", {"v": jnp.asarray(1)})
    with pytest.raises(CheckpointError, match=r"a population \(seed_0, seed_1\).*pop/seed_0"):
        latest_checkpoint("pop")
    assert main(["train", "ppo", "CartPole", "--resume", "gamma", "--no-db"]) == 2
    out = capsys.readouterr().err
    assert "lerax: --resume:" in out and "runs under 'checkpoints': alpha, beta, empty, pop" in out


@pytest.mark.slow  # ~20 s of subprocesses or compilation: CI's slow stage
def test_resume_by_name_continues_the_newest_save(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["train", "ppo", "CartPole", "--timesteps", "1024", "--num-envs", "2", "--no-db"]
    args += ["--eval-episodes", "2", "--log-every", "2", "--set", "num_steps=128"]
    assert main([*args, "--checkpoint", "run", "--checkpoint-every", "2", "--output", "a"]) == 0
    saved = sorted(os.listdir(tmp_path / "checkpoints" / "run" / "saves"))
    assert saved == ["CartPole_2", "CartPole_final", "completed.json", "model_config.json"]
    capsys.readouterr()
    assert main([*args, "--resume", "run", "--num-envs", "4"]) == 2
    assert (
        "lerax: --resume: PPO.train: num_envs: the state was made with 2 envs, the algorithm "
        "has num_envs=4" in capsys.readouterr().err
    )
    assert main([*args, "--resume", "run", "--output", "b"]) == 0
    out = capsys.readouterr().out
    assert "resuming from checkpoints/run/saves/CartPole_final at iteration 4" in out
    first, second = lerax.load_policy("a"), lerax.load_policy("b")
    kernel = lambda p: np.asarray(p.actor.layers[0].kernel)  # noqa: E731
    assert np.array_equal(kernel(first), kernel(second))  # nothing left to train
    template = MLPActorCriticPolicy(env=CartPole(), key=jr.key(0))
    assert lerax.load_policy("b", like=template).actor.activation is template.actor.activation
