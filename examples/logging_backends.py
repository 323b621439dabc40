"""Log one PPO run to several backends at once: SQLite and TensorBoard, optionally W&B
and Comet in offline mode (extras `tensorboard`, `wandb`, `comet`).

    python examples/logging_backends.py
    python examples/logging_backends.py --timesteps 4096 --log-interval 2 --wandb --comet

Prints the runs in the SQLite store, the last logged values, and the files each
backend wrote under <out>.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import jax.random as jr

from lerax.algorithm import PPO
from lerax.callback import (
    LoggingCallback,
    SQLiteBackend,
    TensorBoardBackend,
    list_runs,
    load_metrics,
)
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2**16)
    parser.add_argument("--log-interval", type=int, default=8, help="iterations between events")
    parser.add_argument("--wandb", action="store_true", help="also log to W&B (offline)")
    parser.add_argument("--comet", action="store_true", help="also log to Comet (offline)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/logging_backends"))
    args = parser.parse_args(argv)

    db = args.out / "runs.db"
    backends = [SQLiteBackend(db), TensorBoardBackend(args.out / "tensorboard")]
    if args.wandb:
        from lerax.callback import WandbBackend

        backends.append(WandbBackend(project="lerax-examples", mode="offline", dir=args.out))
    if args.comet:
        os.environ.setdefault("COMET_ERROR_TRACKING_ENABLE", "false")
        from lerax.callback import CometBackend

        backends.append(
            CometBackend("lerax-examples", offline=True, offline_directory=args.out / "comet")
        )
    logger = LoggingCallback(
        backends, name="ppo-cartpole", log_interval=args.log_interval, hparams={"seed": args.seed}
    )

    env = CartPole()
    policy_key, train_key = jr.split(jr.key(args.seed))
    policy = MLPActorCriticPolicy(env=env, key=policy_key)
    PPO().learn(env, policy, args.timesteps, key=train_key, callback=logger)

    for run in list_runs(db):
        print(f"run {run['id']}: {run['name']} ({run['status']})")
    metrics = load_metrics(db, "ppo-cartpole")
    print(f"{len(metrics)} metrics logged, {len(metrics['time/timesteps'][0])} events")
    for key in ("time/timesteps", "episode/return_mean", "reward/moving_avg", "train/entropy"):
        steps, values = metrics[key]
        print(f"last {key}: {values[-1]:.3f} at step {steps[-1]}")
    for folder, _, files in sorted(os.walk(args.out)):
        if files and "wandb" not in Path(folder).parts[:-1]:
            print(f"{folder}: {len(files)} file(s)")


if __name__ == "__main__":
    main()
