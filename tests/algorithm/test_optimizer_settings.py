"""Each algorithm reports the optimizer it actually builds (`optimizer_settings`), and
that report, not a stamp from outside, is what a logged run records."""

from __future__ import annotations

import json
import sqlite3

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.algorithm import A2C, DQN, PPO, SAC, HardUpdate
from lerax.callback import LoggingCallback, SQLiteBackend
from lerax.callback.logging import load_metrics
from lerax.env import CartPole, Pendulum
from lerax.policy import MLPActorCriticPolicy, MLPQPolicy, MLPSACPolicy

G_SMALL, G_LARGE = 1e-9, 1e-2  # below and far above every eps; both under any clip norm

ALGORITHMS = {
    "PPO": PPO(),
    "PPO-constant": PPO(anneal_lr=False),
    "A2C": A2C(),
    "A2C-custom-rmsprop": A2C(rmsprop_decay=0.9, rmsprop_eps=1e-6, anneal_lr=True),
    "A2C-adam": A2C(use_rmsprop=False),
    "DQN": DQN(),
    "SAC": SAC(),
}


def _first_two_updates(optimizer) -> tuple[np.ndarray, np.ndarray]:
    """The optimizer's first two scaled updates for the same gradient `[G_SMALL, G_LARGE]`."""
    grads = jnp.asarray([G_SMALL, G_LARGE], dtype=jnp.float32)
    params = jnp.zeros(2, dtype=jnp.float32)
    state = optimizer.init(params)
    first, state = optimizer.update(grads, state, params)
    second, _ = optimizer.update(grads, state, params)
    return np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)


def _measured(optimizer) -> dict[str, float | str]:
    """Name, eps and decay read off the optimizer's behaviour.

    Both rules' first update is `g / (a * |g| + eps)`: Adam's bias-corrected one has
    `a = 1`, torch-style RMSprop's (`v` from 0, no bias correction) has
    `a = sqrt(1 - decay)`. So `g / u = a * g + eps`, two gradient sizes give `a` and
    `eps`. Adam's bias correction makes a repeated gradient's second update equal the
    first; RMSprop's grows (`v` goes from `(1 - d) g^2` to `(1 - d^2) g^2`).
    """
    first, second = _first_two_updates(optimizer)
    ratio = np.asarray([G_SMALL, G_LARGE]) / first  # a * g + eps
    a = (ratio[1] - ratio[0]) / (G_LARGE - G_SMALL)
    eps = ratio[0] - a * G_SMALL
    if np.allclose(second, first, rtol=1e-3, atol=0.0):  # float32 bias correction
        assert a == pytest.approx(1.0, rel=1e-5)  # Adam: bias corrected
        return {"optimizer": "adam", "optimizer/eps": float(eps)}
    assert np.all(np.abs(second) < np.abs(first))  # an average of g^2 filling up from 0
    return {"optimizer": "rmsprop", "optimizer/eps": float(eps), "optimizer/decay": 1 - a**2}


@pytest.mark.parametrize("name", ALGORITHMS)
def test_reported_optimizer_is_the_built_one(name):
    algo = ALGORITHMS[name]
    settings = algo.optimizer_settings()
    measured = _measured(algo._optimizer())  # what init/update actually build
    reported = {k: v for k, v in settings.items() if k.startswith("optimizer")}
    assert set(reported) == set(measured)
    assert reported["optimizer"] == measured["optimizer"]
    for key in set(reported) - {"optimizer"}:
        assert reported[key] == pytest.approx(measured[key], rel=1e-4), key
    anneals = getattr(algo, "anneal_lr", False)  # DQN and SAC never anneal
    assert settings["learning_rate_schedule"] == ("linear" if anneals else "constant")


def test_known_values_and_no_stamp():
    assert PPO().optimizer_settings() == {
        "optimizer": "adam",
        "optimizer/eps": 1e-5,
        "learning_rate_schedule": "linear",
    }
    assert A2C().optimizer_settings() == {
        "optimizer": "rmsprop",
        "optimizer/eps": 1e-5,
        "optimizer/decay": 0.99,
        "learning_rate_schedule": "constant",
    }
    for algo in (DQN(), SAC()):
        assert algo.optimizer_settings() == {
            "optimizer": "adam",
            "optimizer/eps": 1e-8,
            "learning_rate_schedule": "constant",
        }
    for algo in ALGORITHMS.values():
        config = algo.hyperparameters()
        assert config.items() >= algo.optimizer_settings().items()
        assert "adam_eps" not in config


# ------------------------------------------------------------- a real logged run each

OFF_POLICY = dict(num_envs=2, train_freq=4, buffer_size=64, batch_size=8, learning_starts=16)
RUNS = {
    # name: (algorithm, env, policy), 4 iterations of 8 env steps each
    "PPO": (
        PPO(num_envs=2, num_steps=4, num_epochs=1, num_minibatches=1),
        CartPole(),
        MLPActorCriticPolicy(env=CartPole(), key=jr.key(0), hidden=(8,)),
    ),
    "A2C": (
        A2C(num_envs=2, num_steps=4),
        CartPole(),
        MLPActorCriticPolicy(env=CartPole(), key=jr.key(0), hidden=(8,)),
    ),
    "DQN": (
        DQN(**OFF_POLICY, target_update=HardUpdate(every=2)),
        CartPole(),
        MLPQPolicy(env=CartPole(), key=jr.key(0), hidden=(8,)),
    ),
    "SAC": (
        SAC(**OFF_POLICY),
        Pendulum(),
        MLPSACPolicy(env=Pendulum(), key=jr.key(0), hidden=(8,)),
    ),
}
ITERATIONS = 4


@pytest.mark.parametrize("name", RUNS)
def test_logged_run_records_the_algorithms_own_optimizer(name, tmp_path):
    algo, env, policy = RUNS[name]
    db = tmp_path / "runs.db"
    logger = LoggingCallback(SQLiteBackend(db), name=name)
    algo.learn(env, policy, ITERATIONS * algo.steps_per_iteration, key=jr.key(1), callback=logger)
    with sqlite3.connect(db) as connection:
        ((text,),) = connection.execute("SELECT hparams FROM runs").fetchall()
    hparams = json.loads(text)
    settings = algo.optimizer_settings()
    assert {k: hparams.get(k) for k in settings} == settings
    assert {k for k in hparams if k.startswith("optimizer")} == {
        k for k in settings if k.startswith("optimizer")
    }
    assert "adam_eps" not in hparams
    if name in ("PPO", "A2C"):  # the learning rate they log follows the reported schedule
        _, lrs = load_metrics(db, name, ["train/learning_rate"])["train/learning_rate"]
        lr = float(algo.learning_rate)
        if settings["learning_rate_schedule"] == "linear":
            want = [lr * (1 - i / ITERATIONS) for i in range(ITERATIONS)]
        else:
            want = [lr] * ITERATIONS
        np.testing.assert_allclose(lrs, want, rtol=1e-5)
