"""The zoo table measured: every (algorithm, env) entry of `lerax/zoo/hyperparameters.toml`
trained with its tuned defaults on N seeds at once (one `jax.vmap`ped `init` + `train`,
behind the normalisation layers where the entry has `normalize = true`), each member's
deployable policy evaluated deterministically on the plain env (20 episodes); prints
IQM, min, mean, steps and wall time per entry and appends one JSON line per entry to
`--json`.

    nice -n 19 python benchmarks/zoo.py                      # every entry, 8 seeds
    nice -n 19 python benchmarks/zoo.py ppo:CartPole dqn:CartPole --seeds 8
    python benchmarks/zoo.py dqn:CartPole --set double=false   # a variant of an entry

Wall time includes compilation (one program per entry); it is also reported apart.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import equinox as eqx
import jax
import jax.random as jr
import numpy as np

from lerax._cli_train import parse_overrides
from lerax.callback.logging._aggregate import interquartile_mean
from lerax.policy import evaluate_policy
from lerax.zoo import entries, hyperparameters, make_env
from lerax.zoo._table import apply_overrides, build_algorithm, build_policy, normalized_env


def measure(
    algo_name: str, env_name: str, seeds: int, episodes: int, seed: int, overrides: dict
) -> dict:
    entry = apply_overrides(hyperparameters(algo_name, env_name), overrides)
    eval_env = make_env(env_name)
    env = normalized_env(eval_env, entry)  # behind the normalisation layers if the entry says
    algorithm = build_algorithm(algo_name, entry["algorithm"])
    timesteps = int(entry["timesteps"])

    def run(key):
        policy_key, train_key, eval_key = jr.split(key, 3)
        policy = build_policy(algo_name, env, entry["policy"], key=policy_key)
        state = algorithm.train(algorithm.init(env, policy, timesteps, key=train_key))
        deployed = state.deployable_policy()  # carries the observation statistics
        returns, _ = evaluate_policy(eval_env, deployed, num_episodes=episodes, key=eval_key)
        return returns.mean()

    keys = jr.split(jr.key(seed), seeds)
    program = eqx.filter_jit(jax.vmap(run))
    start = time.perf_counter()
    compiled = program.lower(keys).compile()
    compile_seconds = time.perf_counter() - start
    scores = np.asarray(jax.block_until_ready(compiled(keys)))
    wall = time.perf_counter() - start
    steps = timesteps // algorithm.steps_per_iteration * algorithm.steps_per_iteration
    zoo = entry.get("zoo", {})
    return {
        "algorithm": algo_name,
        "env": env_name,
        "seeds": seeds,
        "normalize": bool(entry.get("normalize", False)),
        "pool_statistics": bool(entry.get("pool_statistics", True)),
        "overrides": overrides,
        "steps": steps,
        "eval_returns": [float(s) for s in scores],
        "iqm": interquartile_mean(scores),
        "mean": float(scores.mean()),
        "min": float(scores.min()),
        "max": float(scores.max()),
        "wall_seconds": wall,
        "compile_seconds": compile_seconds,
        "zoo_score": zoo.get("score"),
        "zoo_timesteps": zoo.get("timesteps"),
        "machine": f"{platform.machine()} {jax.default_backend()} "
        f"({len(jax.devices())} device(s)), jax {jax.__version__}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entries", nargs="*", metavar="ALGO:ENV", help="default: every entry")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="zoo_results.jsonl", help="appended, one line per entry")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="as `lerax train --set`"
    )
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    chosen = [tuple(e.split(":", 1)) for e in args.entries] or entries()
    print("| algorithm | env | IQM | min | zoo | steps | wall s (compile s) |", flush=True)
    print("|---|---|---|---|---|---|---|", flush=True)
    for algo_name, env_name in chosen:
        row = measure(algo_name, env_name, args.seeds, args.episodes, args.seed, overrides)
        with open(args.json, "a") as file:
            file.write(json.dumps(row) + "\n")
        print(
            f"| {algo_name} | {env_name} | {row['iqm']:.1f} | {row['min']:.1f} | "
            f"{row['zoo_score']} | {row['steps']:,} | {row['wall_seconds']:.0f} "
            f"({row['compile_seconds']:.0f}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
