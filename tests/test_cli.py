"""The `lerax train` command line, run in-process."""

from __future__ import annotations

import sqlite3

import equinox as eqx
import jax.random as jr
import numpy as np
import pytest

from lerax.cli import main
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy


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
    assert main([*args, "--checkpoint", "cli", "--checkpoint-every", "4", "--output", "p.eqx"]) == 0
    out = capsys.readouterr().out
    assert "step 2,048/2,048 (100.0%)" in out and "policy saved to p.eqx" in out
    template = MLPActorCriticPolicy(env=CartPole(), key=jr.key(0))
    first = eqx.tree_deserialise_leaves(tmp_path / "p.eqx", template)
    with sqlite3.connect(tmp_path / "lerax_runs.db") as db:
        (runs,) = db.execute("SELECT COUNT(*) FROM runs WHERE status = 'finished'").fetchone()
        (events,) = db.execute(
            "SELECT COUNT(*) FROM metrics WHERE key = 'time/timesteps'"
        ).fetchone()
    assert runs == 1 and events == 4  # 8 iterations of 256 steps, logged every 2
    saves = tmp_path / "checkpoints" / "cli" / "saves"
    assert (saves / "CartPole_4").is_dir() and (saves / "CartPole_final").is_dir()

    assert main([*args, "--resume", str(saves / "CartPole_4"), "--output", "q.eqx", "--no-db"]) == 0
    resumed = eqx.tree_deserialise_leaves(tmp_path / "q.eqx", template)
    for a, b in zip(
        eqx.filter(first, eqx.is_array).actor.layers,
        eqx.filter(resumed, eqx.is_array).actor.layers,
        strict=True,
    ):
        assert np.array_equal(np.asarray(a.weight), np.asarray(b.weight))


@pytest.mark.parametrize("bad", [["train", "sac", "CartPole"], ["train", "ppo", "Walker"]])
def test_bad_choices_are_rejected(bad, capsys):
    with pytest.raises(SystemExit):
        main(bad)
    assert "invalid choice" in capsys.readouterr().err
