"""Train several seeds in one compiled program and plot their learning curves.

    python examples/many_seeds.py                          # 8 seeds x 2**16 steps
    python examples/many_seeds.py --timesteps 4096 --seeds 3

Each seed is logged as its own run (<name>/seed_<i>) in <out>/runs.db; the plot shows
their mean and the min-max band (needs the `plot` extra). Prints each seed's greedy
return.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.random as jr

from lerax.algorithm import PPO
from lerax.callback import LoggingCallback, SQLiteBackend
from lerax.env import CartPole
from lerax.plot import plot_learning_curves
from lerax.policy import MLPActorCriticPolicy, evaluate_policy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2**16, help="per seed")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("runs/many_seeds"))
    args = parser.parse_args(argv)

    for suffix in ("", "-wal", "-shm"):  # start from an empty store: old seeds would mix in
        (args.out / f"runs.db{suffix}").unlink(missing_ok=True)
    env, algo = CartPole(), PPO()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    logger = LoggingCallback(SQLiteBackend(args.out / "runs.db"), name="ppo", log_interval=2)

    @jax.jit
    def train_and_evaluate(key):
        train_key, eval_key = jr.split(key)
        trained = algo.learn(env, policy, args.timesteps, key=train_key, callback=logger)
        returns, _ = evaluate_policy(env, trained, num_episodes=10, key=eval_key)
        return returns.mean()

    returns = jax.vmap(train_and_evaluate)(jr.split(jr.key(1), args.seeds))
    for seed, value in enumerate(returns):
        print(f"seed {seed}: greedy mean return {float(value):.1f}")

    output = args.out / "curves.png"
    curves = plot_learning_curves(args.out / "runs.db", "episode/return_mean", output)
    curve = curves["ppo"]
    print(f"wrote {output}: {len(curve.members)} seeds, {curve.steps.size} points")
    print(f"final mean {curve.mean[-1]:.1f} (band {curve.low[-1]:.1f} to {curve.high[-1]:.1f})")


if __name__ == "__main__":
    main()
