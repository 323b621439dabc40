"""The `lerax` command line: `lerax train ppo CartPole --timesteps 200000 --seed 0`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ALGORITHMS = ("ppo",)
ENVIRONMENTS = ("CartPole", "Acrobot", "MountainCar", "MountainCarContinuous", "Pendulum")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lerax", description="Reinforcement learning on JAX.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="Train a policy and save it.")
    train.add_argument("algorithm", choices=ALGORITHMS, type=str.lower)
    train.add_argument("env", choices=ENVIRONMENTS)
    train.add_argument("--timesteps", type=int, default=200_000, help="env steps (all envs)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--num-envs", type=int, default=4)
    train.add_argument("--print-every", type=int, default=20, help="iterations between lines")
    train.add_argument("--eval-episodes", type=int, default=20)
    train.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to save the policy (default: <env>_<algo>.eqx)",
    )
    return parser


def train(args: argparse.Namespace) -> int:
    import equinox as eqx
    import jax
    import jax.random as jr
    import numpy as np

    from lerax import env as envs
    from lerax.algorithm import PPO
    from lerax.callback import PrintProgress
    from lerax.policy import MLPActorCriticPolicy, evaluate_policy

    env = getattr(envs, args.env)()
    policy_key, train_key, eval_key = jr.split(jr.key(args.seed), 3)
    policy = MLPActorCriticPolicy(env=env, key=policy_key)
    algorithm = PPO(num_envs=args.num_envs)
    print(
        f"lerax: training {type(algorithm).__name__} on {env.name} for {args.timesteps} steps "
        f"(seed {args.seed}, {args.num_envs} envs, JAX on {jax.default_backend()})",
        flush=True,
    )
    start = time.perf_counter()
    policy = algorithm.learn(
        env,
        policy,
        total_timesteps=args.timesteps,
        key=train_key,
        callback=PrintProgress(every=args.print_every),
    )
    elapsed = time.perf_counter() - start
    returns, _ = jax.jit(
        lambda p, k: evaluate_policy(env, p, num_episodes=args.eval_episodes, key=k)
    )(policy, eval_key)
    returns = np.asarray(returns)
    output = args.output or Path(f"{args.env}_{args.algorithm}.eqx")
    output.parent.mkdir(parents=True, exist_ok=True)
    eqx.tree_serialise_leaves(output, policy)
    print(
        f"lerax: trained in {elapsed:.1f}s (compilation included); deterministic evaluation "
        f"over {args.eval_episodes} episodes: mean return {returns.mean():.1f} "
        f"(min {returns.min():.1f}, max {returns.max():.1f}); policy saved to {output}",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return train(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
