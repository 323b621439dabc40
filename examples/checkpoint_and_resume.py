"""Save checkpoints while training, then resume from one and check the result is exact.

    python examples/checkpoint_and_resume.py
    python examples/checkpoint_and_resume.py --timesteps 4096 --frequency 2

Writes <out>/<dirname>/saves/ and prints whether the resumed run ends bitwise equal to
the uninterrupted one.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import jax
import jax.random as jr
import numpy as np

from lerax.algorithm import PPO
from lerax.callback import SaveCheckpoints
from lerax.checkpoint import load
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2**16)
    parser.add_argument("--frequency", type=int, default=32, help="iterations between saves")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/checkpoint_and_resume"))
    args = parser.parse_args(argv)

    if (args.out / "cartpole").exists():  # SaveCheckpoints refuses to overwrite a run
        shutil.rmtree(args.out / "cartpole")
    env, algo = CartPole(), PPO()
    policy_key, train_key = jr.split(jr.key(args.seed))
    policy = MLPActorCriticPolicy(env=env, key=policy_key)

    saver = SaveCheckpoints("cartpole", frequency=args.frequency, root=args.out)
    trained = algo.learn(env, policy, args.timesteps, key=train_key, callback=saver)
    saves = args.out / "cartpole" / "saves"
    print("checkpoints:", sorted(os.listdir(saves)))

    periodic = sorted(
        (p for p in saves.iterdir() if p.is_dir() and not p.name.endswith("_final")),
        key=lambda p: int(p.name.rsplit("_", 1)[1]),
    )
    first = periodic[0]
    state = load(first)
    print(f"resuming from {first.name}: iteration {int(state.iteration)}")
    state = algo.train(algo.with_callbacks(state, None))  # the rest of the planned budget

    same = all(
        np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(state.policy), jax.tree.leaves(trained), strict=True)
    )
    print(f"resumed to iteration {int(state.iteration)}; bitwise equal to one run: {same}")


if __name__ == "__main__":
    main()
