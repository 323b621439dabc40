"""Stable-Baselines3 itself on a zoo entry, over several seeds (reference for `zoo.py`).

rl-baselines3-zoo's `benchmark.md` reports ONE training run per entry. To tell a
lerax shortfall from the spread of the task and settings, this trains SB3 with the
zoo's hyper-parameters on N seeds and reports the same statistics as
`benchmarks/zoo.py` (mean deterministic return over 20 episodes per seed; IQM, min).
Runs in the SB3 venv (`benchmarks/requirements-sb3.txt`), one torch thread:

    /tmp/sb3-venv/bin/python benchmarks/zoo_sb3.py dqn:CartPole --seeds 8
    /tmp/sb3-venv/bin/python benchmarks/zoo_sb3.py a2c:Pendulum --seeds 4 --first-seed 4
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

# The zoo's hyperparams/*.yml entries (values only; the zoo's own code is not used).
ENTRIES = {
    "dqn:CartPole": dict(
        algo="DQN",
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
        algo="DQN",
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
    # Trained behind VecNormalize(gamma=0.9) (the zoo's `normalize: True`), evaluated
    # through the saved statistics with reward normalisation off, as the zoo does.
    "a2c:Pendulum": dict(
        algo="A2C",
        env="Pendulum-v1",
        timesteps=1_000_000,
        n_envs=8,
        normalize=True,
        kwargs=dict(
            n_steps=8,
            gamma=0.9,
            gae_lambda=0.9,
            vf_coef=0.4,
            ent_coef=0.0,
            max_grad_norm=0.5,
            use_rms_prop=True,
            normalize_advantage=False,
            learning_rate="lin_7e-4",
            use_sde=True,
            policy_kwargs=dict(log_std_init=-2, ortho_init=False),
        ),
    ),
    "ppo:MountainCarContinuous": dict(
        algo="PPO",
        env="MountainCarContinuous-v0",
        timesteps=20_000,
        n_envs=1,
        normalize=True,
        kwargs=dict(
            batch_size=256,
            n_steps=8,
            gamma=0.9999,
            learning_rate=7.77e-05,
            ent_coef=0.00429,
            clip_range=0.1,
            n_epochs=10,
            gae_lambda=0.9,
            max_grad_norm=5,
            vf_coef=0.19,
            use_sde=True,
            policy_kwargs=dict(log_std_init=-3.29, ortho_init=False),
        ),
    ),
}


def iqm(values) -> float:
    values = np.sort(np.asarray(values, np.float64))
    n = len(values)
    return float(values[n // 4 : n - n // 4].mean())


def main() -> None:
    import stable_baselines3
    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    parser = argparse.ArgumentParser()
    parser.add_argument("entry", choices=sorted(ENTRIES))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    entry = ENTRIES[args.entry]
    returns, walls = [], []
    kwargs = dict(entry["kwargs"])
    rate = kwargs.get("learning_rate")
    if isinstance(rate, str) and rate.startswith("lin_"):
        initial = float(rate[4:])
        kwargs["learning_rate"] = lambda remaining: remaining * initial
    algo = getattr(stable_baselines3, entry["algo"])
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for seed in seeds:
        start = time.perf_counter()
        env = make_vec_env(entry["env"], n_envs=entry.get("n_envs", 1), seed=seed)
        if entry.get("normalize"):
            env = VecNormalize(env, gamma=kwargs["gamma"])
        model = algo("MlpPolicy", env, seed=seed, verbose=0, **kwargs)
        model.learn(entry["timesteps"])
        walls.append(time.perf_counter() - start)
        eval_env = make_vec_env(entry["env"], n_envs=1, seed=10_000 + seed)
        if entry.get("normalize"):
            eval_env = VecNormalize(eval_env, training=False, norm_reward=False)
            eval_env.obs_rms = env.obs_rms
        mean, _ = evaluate_policy(
            model, eval_env, n_eval_episodes=args.episodes, deterministic=True
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
