"""Record videos of the greedy policy while PPO trains on CartPole (needs the `video` extra).

    python examples/record_videos.py
    python examples/record_videos.py --timesteps 4096 --frequency 4

Writes mp4 files to <out>/cartpole/videos/ and prints their names.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import jax.random as jr

from lerax.algorithm import PPO
from lerax.callback import RecordVideos
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2**16)
    parser.add_argument("--frequency", type=int, default=32, help="iterations between videos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/record_videos"))
    args = parser.parse_args(argv)

    shutil.rmtree(args.out / "cartpole", ignore_errors=True)
    env = CartPole()
    policy_key, train_key = jr.split(jr.key(args.seed))
    policy = MLPActorCriticPolicy(env=env, key=policy_key)
    videos = RecordVideos(
        "cartpole", frequency=args.frequency, root=args.out, num_steps=200, width=320, height=240
    )
    PPO().learn(env, policy, args.timesteps, key=train_key, callback=videos)
    folder = args.out / "cartpole" / "videos"
    for name in sorted(os.listdir(folder)):
        print(f"{folder / name}: {os.path.getsize(folder / name)} bytes")


if __name__ == "__main__":
    main()
