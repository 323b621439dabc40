"""Stable-Baselines3 itself on a zoo entry, over several seeds (reference for `zoo.py`).

rl-baselines3-zoo's `benchmark.md` reports ONE training run per entry. To tell a
lerax shortfall from the spread of the task and settings, this trains SB3 with the
zoo's hyper-parameters on N seeds and reports the same statistics as
`benchmarks/zoo.py` (mean deterministic return over 20 episodes per seed; IQM, min).
Runs in the SB3 venv (`benchmarks/requirements-sb3.txt`), one torch thread:

    /tmp/sb3-venv/bin/python benchmarks/zoo_sb3.py dqn:CartPole --seeds 8
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

# The zoo's hyperparams/*.yml entries (values only; the zoo's own code is not used).
ENTRIES = {
    "dqn:CartPole": dict(
        env="CartPole-v1",
        timesteps=50_000,
        kwargs=dict(
            learning_rate=2.3e-3,
            batch_size=64,
            buffer_size=100_000,
            learning_starts=1_000,
            gamma=0.99,
            target_update_interval=10,
            train_freq=256,
            gradient_steps=128,
            exploration_fraction=0.16,
            exploration_final_eps=0.04,
            policy_kwargs=dict(net_arch=[256, 256]),
        ),
    ),
    "dqn:MountainCar": dict(
        env="MountainCar-v0",
        timesteps=120_000,
        kwargs=dict(
            learning_rate=4e-3,
            batch_size=128,
            buffer_size=10_000,
            learning_starts=1_000,
            gamma=0.98,
            target_update_interval=600,
            train_freq=16,
            gradient_steps=8,
            exploration_fraction=0.2,
            exploration_final_eps=0.07,
            policy_kwargs=dict(net_arch=[256, 256]),
        ),
    ),
}


def iqm(values) -> float:
    values = np.sort(np.asarray(values, np.float64))
    n = len(values)
    return float(values[n // 4 : n - n // 4].mean())


def main() -> None:
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.evaluation import evaluate_policy

    parser = argparse.ArgumentParser()
    parser.add_argument("entry", choices=sorted(ENTRIES))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    entry = ENTRIES[args.entry]
    returns, walls = [], []
    for seed in range(args.seeds):
        start = time.perf_counter()
        model = DQN("MlpPolicy", gym.make(entry["env"]), seed=seed, verbose=0, **entry["kwargs"])
        model.learn(entry["timesteps"])
        walls.append(time.perf_counter() - start)
        mean, _ = evaluate_policy(
            model, gym.make(entry["env"]), n_eval_episodes=args.episodes, deterministic=True
        )
        returns.append(float(mean))
        print(f"seed {seed}: {mean:.1f} ({walls[-1]:.0f} s)", flush=True)
    summary = {
        "entry": args.entry,
        "returns": returns,
        "iqm": iqm(returns),
        "min": min(returns),
        "wall_seconds": walls,
    }
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
