"""Off-policy algorithms: lerax vs rejax (DQN on CartPole, SAC on Pendulum), side by side,
plus Stable-Baselines3 on CPU torch for the same workloads.

Workloads (identical structure in every implementation; rejax's fields read from its
0.1.3 source: one rejax `train_iteration` = one vectorised env step of `num_envs` envs
followed by `num_epochs` gradient steps once `global_step > fill_buffer`):

* DQN, CartPole-v1: 10 envs; per iteration one step of each env (10 env steps) then 1
  gradient step; Q-network MLP 64x64 ReLU; Adam 2.5e-4; batch 128; replay 10,000;
  1,000 random steps first; double-DQN targets, squared TD loss (rejax `l2_loss`,
  lerax `loss="mse"`), gradient clip 10 (rejax: element-wise `optax.clip`, lerax:
  global norm); hard target copy every 500 env steps (lerax `HardUpdate(every=50)`
  gradient steps; rejax `target_update_freq=500, polyak=0`); epsilon 1 -> 0.05 over
  half the run; gamma 0.99; 100,000 env steps.
* SAC, Pendulum-v1: 1 env; per iteration 1 env step then 1 gradient step (actor,
  twin critics, temperature); actor and critics MLP 256x256 ReLU; Adam 3e-4 for all
  three; batch 256; replay 100,000; 1,000 random steps first (rejax has no random
  phase: its actor acts from the start, updates start after `fill_buffer`); Polyak
  tau 0.005 every step (rejax `polyak=0.995, target_update_freq=1`); initial alpha
  1, target entropy -1; gamma 0.99; 20,000 env steps.

rejax's periodic evaluation is disabled inside the timed call (no initial evaluation,
`eval_freq = total_timesteps`, a no-op `eval_callback`), as in `ppo_baselines.py`.
Learning is checked after the timing, outside it.

Timing: first call (fresh jit: trace + compile + one run) and steady state (median of
`--rounds` calls, contenders interleaved call by call so that background load hits them
alike; wall and process-CPU seconds). Ratio = lerax / rejax, per workload.

Stable-Baselines3 runs in its own venv (it needs torch, which must not touch the jax
venv); this script calls itself there with `--sb3`. SAC in SB3 is slow on CPU, so it
runs `--sb3-sac-steps` steps (default 3,000) and the full 20,000-step time is
extrapolated from the per-step time after learning starts; the script says so.

    /tmp/bench-venv/bin/python benchmarks/algorithms.py [--rounds 3] [--sb3-python PY]
    /tmp/sb3-venv/bin/python benchmarks/algorithms.py --sb3     # SB3 only

Needs rejax==0.1.3, gymnax==0.0.9 (benchmarks/requirements.txt) and, for SB3,
benchmarks/requirements-sb3.txt in a separate venv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

DQN_STEPS = 100_000
SAC_STEPS = 20_000

DQN_CONFIG = dict(
    num_envs=10,
    buffer_size=10_000,
    batch_size=128,
    learning_starts=1_000,
    learning_rate=2.5e-4,
    gamma=0.99,
    target_every_env_steps=500,
    epsilon_start=1.0,
    epsilon_end=0.05,
    exploration_fraction=0.5,
    max_grad_norm=10.0,
    hidden=(64, 64),
)
SAC_CONFIG = dict(
    num_envs=1,
    buffer_size=100_000,
    batch_size=256,
    learning_starts=1_000,
    learning_rate=3e-4,
    gamma=0.99,
    tau=0.005,
    hidden=(256, 256),
)


# ---------------------------------------------------------------------------- lerax


def lerax_dqn(learning_starts: int | None = None):
    import jax.random as jr

    from lerax.algorithm import DQN, HardUpdate
    from lerax.env import CartPole
    from lerax.policy import MLPQPolicy

    c = DQN_CONFIG
    env = CartPole()
    policy = MLPQPolicy(env=env, key=jr.key(0), hidden=c["hidden"])
    algo = DQN(
        num_envs=c["num_envs"],
        train_freq=1,
        gradient_steps=1,
        buffer_size=c["buffer_size"],
        batch_size=c["batch_size"],
        learning_starts=c["learning_starts"] if learning_starts is None else learning_starts,
        learning_rate=c["learning_rate"],
        gamma=c["gamma"],
        epsilon_start=c["epsilon_start"],
        epsilon_end=c["epsilon_end"],
        exploration_fraction=c["exploration_fraction"],
        max_grad_norm=c["max_grad_norm"],
        loss="mse",
        target_update=HardUpdate(every=c["target_every_env_steps"] // c["num_envs"]),
    )
    return env, lambda key: algo.learn(env, policy, DQN_STEPS, key=key)


def lerax_sac(learning_starts: int | None = None):
    import jax.random as jr

    from lerax.algorithm import SAC, PolyakUpdate
    from lerax.env import Pendulum
    from lerax.policy import MLPSACPolicy

    c = SAC_CONFIG
    env = Pendulum()
    policy = MLPSACPolicy(env=env, key=jr.key(0), hidden=c["hidden"])
    algo = SAC(
        num_envs=c["num_envs"],
        train_freq=1,
        gradient_steps=1,
        buffer_size=c["buffer_size"],
        batch_size=c["batch_size"],
        learning_starts=c["learning_starts"] if learning_starts is None else learning_starts,
        actor_learning_rate=c["learning_rate"],
        critic_learning_rate=c["learning_rate"],
        alpha_learning_rate=c["learning_rate"],
        gamma=c["gamma"],
        initial_alpha=1.0,
        target_update=PolyakUpdate(tau=c["tau"]),
    )
    return env, lambda key: algo.learn(env, policy, SAC_STEPS, key=key)


def lerax_score(env, policy) -> float:
    import jax
    import jax.random as jr

    from lerax.policy import evaluate_policy

    returns, _ = jax.jit(lambda p: evaluate_policy(env, p, num_episodes=20, key=jr.key(123)))(
        policy
    )
    return float(returns.mean())


# ---------------------------------------------------------------------------- rejax


def _no_eval(algo):
    import jax.numpy as jnp

    return algo.replace(eval_callback=lambda algo, ts, rng: jnp.zeros(()))


def rejax_dqn(learning_starts: int | None = None):
    from rejax import DQN

    c = DQN_CONFIG
    algo = DQN.create(
        env="CartPole-v1",
        num_envs=c["num_envs"],
        buffer_size=c["buffer_size"],
        fill_buffer=c["learning_starts"] if learning_starts is None else learning_starts,
        batch_size=c["batch_size"],
        learning_rate=c["learning_rate"],
        num_epochs=1,
        target_update_freq=c["target_every_env_steps"],
        polyak=0.0,
        eps_start=c["epsilon_start"],
        eps_end=c["epsilon_end"],
        exploration_fraction=c["exploration_fraction"],
        max_grad_norm=c["max_grad_norm"],
        gamma=c["gamma"],
        ddqn=True,
        total_timesteps=DQN_STEPS,
        eval_freq=DQN_STEPS,
        skip_initial_evaluation=True,
        agent_kwargs={"activation": "relu"},  # 64x64 is fixed in rejax's DQN
    )
    return _no_eval(algo)


def rejax_sac(learning_starts: int | None = None):
    from rejax import SAC

    c = SAC_CONFIG
    algo = SAC.create(
        env="Pendulum-v1",
        num_envs=c["num_envs"],
        buffer_size=c["buffer_size"],
        fill_buffer=c["learning_starts"] if learning_starts is None else learning_starts,
        batch_size=c["batch_size"],
        learning_rate=c["learning_rate"],
        num_epochs=1,
        target_update_freq=1,
        polyak=1.0 - c["tau"],
        gamma=c["gamma"],
        total_timesteps=SAC_STEPS,
        eval_freq=SAC_STEPS,
        skip_initial_evaluation=True,
        hidden_layer_sizes=c["hidden"],
        agent_kwargs={"activation": "relu"},
    )
    return _no_eval(algo)


def rejax_score(algo, train_state) -> float:
    import jax
    from rejax.evaluate import evaluate

    act = algo.make_act(train_state)
    max_steps = algo.env_params.max_steps_in_episode
    _, returns = evaluate(act, jax.random.PRNGKey(123), algo.env, algo.env_params, 20, max_steps)
    return float(returns.mean())


# ----------------------------------------------------------------- Stable-Baselines3


def sb3_run(which: str, steps: int, threads: int = 1) -> dict:
    """Time one SB3 `learn` of `steps` env steps (CPU torch); also the time at which
    learning started, to extrapolate the per-step cost of the learning phase."""
    import gymnasium as gym
    import torch

    torch.set_num_threads(threads)
    from stable_baselines3 import DQN, SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    class Clock(BaseCallback):
        def __init__(self, learning_starts):
            super().__init__()
            self.learning_starts, self.t_start, self.t_learning = learning_starts, None, None

        def _on_training_start(self):
            self.t_start = time.perf_counter(), time.process_time()

        def _on_step(self):
            if self.t_learning is None and self.num_timesteps >= self.learning_starts:
                self.t_learning = time.perf_counter(), time.process_time()
            return True

    if which == "dqn":
        c = DQN_CONFIG
        env = make_vec_env("CartPole-v1", n_envs=c["num_envs"], seed=0)
        model = DQN(
            "MlpPolicy",
            env,
            learning_rate=c["learning_rate"],
            buffer_size=c["buffer_size"],
            learning_starts=c["learning_starts"],
            batch_size=c["batch_size"],
            gamma=c["gamma"],
            train_freq=1,  # one vectorised step = num_envs env steps
            gradient_steps=1,
            target_update_interval=c["target_every_env_steps"],
            exploration_fraction=c["exploration_fraction"],
            exploration_initial_eps=c["epsilon_start"],
            exploration_final_eps=c["epsilon_end"],
            max_grad_norm=c["max_grad_norm"],
            policy_kwargs=dict(net_arch=list(c["hidden"]), activation_fn=torch.nn.ReLU),
            device="cpu",
            seed=0,
        )
    else:
        c = SAC_CONFIG
        env = make_vec_env("Pendulum-v1", n_envs=c["num_envs"], seed=0)
        model = SAC(
            "MlpPolicy",
            env,
            learning_rate=c["learning_rate"],
            buffer_size=c["buffer_size"],
            learning_starts=c["learning_starts"],
            batch_size=c["batch_size"],
            tau=c["tau"],
            gamma=c["gamma"],
            train_freq=1,
            gradient_steps=1,
            ent_coef="auto_1.0",
            policy_kwargs=dict(net_arch=list(c["hidden"]), activation_fn=torch.nn.ReLU),
            device="cpu",
            seed=0,
        )
    clock = Clock(c["learning_starts"])
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps, callback=clock)
    end = time.perf_counter(), time.process_time()
    wall, cpu = end[0] - wall, end[1] - cpu
    eval_env = gym.make("CartPole-v1" if which == "dqn" else "Pendulum-v1")
    score, _ = evaluate_policy(model, eval_env, n_eval_episodes=20, deterministic=True)
    return {
        "steps": steps,
        "wall_s": wall,
        "cpu_s": cpu,
        "random_phase_s": clock.t_learning[0] - clock.t_start[0],
        "learning_phase_s": end[0] - clock.t_learning[0],
        "random_phase_cpu_s": clock.t_learning[1] - clock.t_start[1],
        "learning_phase_cpu_s": end[1] - clock.t_learning[1],
        "score": float(score),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def sb3_main(sac_steps: int, threads: int) -> None:
    out = {
        "dqn": sb3_run("dqn", DQN_STEPS, threads),
        "sac": sb3_run("sac", sac_steps, threads),
    }
    print("SB3_JSON " + json.dumps(out))


def sb3_summary(results: dict) -> dict:
    """Full-budget seconds per workload (measured, or extrapolated for a shorter run)."""
    summary = {}
    for which, total, c in (("dqn", DQN_STEPS, DQN_CONFIG), ("sac", SAC_STEPS, SAC_CONFIG)):
        r = results[which]
        learning_steps = r["steps"] - c["learning_starts"]
        if r["steps"] >= total:
            full, full_cpu, how = r["wall_s"], r["cpu_s"], "measured"
        else:
            scale = (total - c["learning_starts"]) / learning_steps
            full = r["random_phase_s"] + r["learning_phase_s"] * scale
            full_cpu = r["random_phase_cpu_s"] + r["learning_phase_cpu_s"] * scale
            how = f"extrapolated from {r['steps']:,} steps"
        summary[which] = dict(r, full_s=full, full_cpu_s=full_cpu, how=how)
    return summary


# ---------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3, help="steady-state calls each")
    parser.add_argument("--sb3", action="store_true", help="run only SB3 (in the SB3 venv)")
    parser.add_argument("--sb3-python", default="/tmp/sb3-venv/bin/python")
    parser.add_argument("--sb3-sac-steps", type=int, default=3_000)
    parser.add_argument(
        "--sb3-threads",
        type=int,
        default=1,
        help="torch threads; 1 because on this shared 2-core machine 2 threads spent "
        "most of their CPU time spinning (25x the CPU time per SAC step)",
    )
    parser.add_argument("--skip-sb3", action="store_true")
    parser.add_argument("--only", choices=("dqn", "sac"), default=None)
    parser.add_argument(
        "--collect-only",
        action="store_true",
        help="profile: learning_starts = budget (DQN budget cut to the 10k buffer), so "
        "only acting, env steps, buffer writes and the loop itself are timed",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 5,000 DQN and 2,000 SAC steps"
    )
    args = parser.parse_args()
    global DQN_STEPS, SAC_STEPS
    if args.quick:
        DQN_STEPS, SAC_STEPS = 5_000, 2_000
    starts = {"dqn": None, "sac": None}
    if args.collect_only:  # learning never starts: the env loop, acting and buffer only
        DQN_STEPS = min(DQN_STEPS, DQN_CONFIG["buffer_size"])
        starts = {"dqn": DQN_STEPS, "sac": SAC_STEPS}
        args.skip_sb3 = True
    if args.sb3:
        sb3_main(args.sb3_sac_steps, args.sb3_threads)
        return

    import jax
    import jax.random as jr
    import numpy as np

    sys.path.insert(0, os.path.dirname(__file__))
    import _timing

    print(
        f"JAX {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs; "
        f"steady state = median of {args.rounds} calls per contender, interleaved"
    )
    workloads = {
        "dqn": ("DQN CartPole", DQN_STEPS, lerax_dqn, rejax_dqn),
        "sac": ("SAC Pendulum", SAC_STEPS, lerax_sac, rejax_sac),
    }
    if args.only:
        workloads = {args.only: workloads[args.only]}
    rows = {}
    for which, (title, steps, make_lerax, make_rejax) in workloads.items():
        steps = DQN_STEPS if which == "dqn" else SAC_STEPS
        env, lerax_fn = make_lerax(starts[which])
        rejax_algo = make_rejax(starts[which])
        fns = {
            "lerax": _timing.fresh_jit(lerax_fn),
            "rejax": _timing.fresh_jit(rejax_algo.train),
        }
        first, outputs = {}, {}
        for name, fn in fns.items():
            start = time.perf_counter()
            key = jr.key(0) if name == "lerax" else jax.random.PRNGKey(0)
            outputs[name] = jax.block_until_ready(fn(key))
            first[name] = time.perf_counter() - start
        wall = {name: [] for name in fns}
        cpu = {name: [] for name in fns}
        for r in range(args.rounds):
            for name, fn in fns.items():
                key = jax.random.PRNGKey(r + 1) if name == "rejax" else jr.key(r + 1)
                c0, t0 = _timing.cpu_seconds(), time.perf_counter()
                jax.block_until_ready(fn(key))
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(_timing.cpu_seconds() - c0)
        scores = {
            "lerax": lerax_score(env, outputs["lerax"]),
            "rejax": rejax_score(rejax_algo, outputs["rejax"][0]),
        }
        rows[which] = dict(
            title=title,
            steps=steps,
            first=first,
            wall={k: float(np.median(v)) for k, v in wall.items()},
            wall_all=wall,
            cpu={k: float(np.median(v)) for k, v in cpu.items()},
            ratios=[lw / rw for lw, rw in zip(wall["lerax"], wall["rejax"], strict=True)],
            scores=scores,
        )
        print(json.dumps({which: rows[which]}, default=str))

    sb3 = None
    if not args.skip_sb3 and os.path.exists(args.sb3_python):
        cmd = [args.sb3_python, __file__, "--sb3", "--sb3-sac-steps", str(args.sb3_sac_steps)]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--sb3-threads", str(args.sb3_threads)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = [x for x in done.stdout.splitlines() if x.startswith("SB3_JSON ")]
        if line:
            sb3 = sb3_summary(json.loads(line[-1][len("SB3_JSON ") :]))
        else:
            print("SB3 run failed:\n" + done.stderr[-3000:])

    print(
        "\n| workload | implementation | first call (s) | steady state (s) | env steps/s | "
        "CPU s per call | lerax / this (wall) | greedy return (20 episodes) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for which, row in rows.items():
        for name in ("lerax", "rejax"):
            t = row["wall"][name]
            print(
                f"| {row['title']} | {name} | {row['first'][name]:.2f} | {t:.2f} | "
                f"{row['steps'] / t:,.0f} | {row['cpu'][name]:.2f} | "
                f"{row['wall']['lerax'] / t:.3f} | {row['scores'][name]:.1f} |"
            )
        if sb3 and which in sb3:
            s = sb3[which]
            print(
                f"| {row['title']} | SB3 {s['torch']} CPU ({s['how']}) | - | {s['full_s']:.1f} | "
                f"{row['steps'] / s['full_s']:,.0f} | {s['full_cpu_s']:.1f} | "
                f"{row['wall']['lerax'] / s['full_s']:.4f}"
                f" | {s['score']:.1f} (after {s['steps']:,} steps) |"
            )
    for which, row in rows.items():
        ratios = np.asarray(row["ratios"])
        print(
            f"{row['title']}: lerax / rejax steady-state wall = "
            f"{np.median(ratios):.3f} (per-round {', '.join(f'{x:.3f}' for x in ratios)}); "
            f"CPU {row['cpu']['lerax'] / row['cpu']['rejax']:.3f}"
        )
        if sb3 and which in sb3:
            s = sb3[which]
            print(
                f"  SB3 / lerax: wall {s['full_s'] / row['wall']['lerax']:.1f}x, "
                f"CPU {s['full_cpu_s'] / row['cpu']['lerax']:.1f}x"
            )
    print(f"Peak RSS: {_timing.peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
