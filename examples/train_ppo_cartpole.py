"""Train PPO on CartPole, evaluate the greedy policy, and save it.

    python examples/train_ppo_cartpole.py                     # 2**17 steps: return ~400-500
    python examples/train_ppo_cartpole.py --timesteps 4096    # a quick smoke run

Prints the greedy evaluation and writes the policy to <out>/policy (lerax.save_policy).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax.random as jr

import lerax
from lerax.algorithm import PPO
from lerax.callback import PrintProgress
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy, evaluate_policy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2**17)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/train_ppo_cartpole"))
    args = parser.parse_args(argv)

    env = CartPole()
    policy_key, train_key, eval_key = jr.split(jr.key(args.seed), 3)
    policy = MLPActorCriticPolicy(env=env, key=policy_key)
    start = time.perf_counter()
    policy = PPO().learn(
        env, policy, args.timesteps, key=train_key, callback=PrintProgress(every=16)
    )
    print(f"trained for {args.timesteps} steps in {time.perf_counter() - start:.1f}s")

    returns, lengths = evaluate_policy(env, policy, num_episodes=20, key=eval_key)
    print(f"greedy evaluation: mean return {float(returns.mean()):.1f} over 20 episodes")

    lerax.save_policy(args.out / "policy", policy, metadata={"timesteps": args.timesteps})
    reloaded = lerax.load_policy(args.out / "policy")
    again, _ = evaluate_policy(env, reloaded, num_episodes=20, key=eval_key)
    print(f"saved to {args.out / 'policy'}; reloaded policy mean return {float(again.mean()):.1f}")


if __name__ == "__main__":
    main()
