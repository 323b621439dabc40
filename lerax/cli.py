"""The `lerax` command line: `lerax train ppo CartPole --timesteps 200000 --seed 0`.

By default a run logs through `LoggingCallback([ConsoleBackend(), SQLiteBackend()])`
(progress and metrics in the terminal, every metric in `lerax_runs.db`), then
evaluates the trained policy and saves it.

Populations: `--seeds 8` trains 8 seeds and `--sweep learning_rate=1e-3,3e-4`
(repeatable: the grid of every combination) trains every value, each with `--seeds`
seeds, as ONE program (`lerax.population.train_population`): one log run per member,
aggregate runs across seeds (mean, min, max, IQM), one checkpoint directory per
member. `--shard seeds|envs` splits the seeds or the envs over all devices.

On a CPU, JAX shows one device that runs a vmapped population on about one core;
`--cpu-devices N` shows N CPU devices instead (e.g. one per core), so that
`--shard seeds` spreads the seeds over the cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lerax.plot import add_plot_subparser, run_plot

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
    train.add_argument("--log-every", type=int, default=10, help="iterations between log events")
    train.add_argument("--db", type=Path, default=Path("lerax_runs.db"), help="SQLite run store")
    train.add_argument("--no-db", action="store_true", help="do not write the SQLite store")
    train.add_argument("--tensorboard", type=Path, default=None, metavar="DIR")
    train.add_argument("--wandb", default=None, metavar="PROJECT", help="W&B project (offline)")
    train.add_argument("--checkpoint", default=None, metavar="DIR", help="SaveCheckpoints dirname")
    train.add_argument("--checkpoint-every", type=int, default=100, metavar="N")
    train.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="PATH",
        help="continue from the newest save of a --checkpoint name, checkpoints/<name>, "
        "or one save directory",
    )
    train.add_argument(
        "--early-stop",
        type=float,
        default=None,
        metavar="TARGET",
        help="stop when the episodic return reaches TARGET 3 iterations in a row",
    )
    train.add_argument(
        "--eval-every",
        type=int,
        default=None,
        metavar="N",
        help="greedy evaluation (8 episodes) every N iterations",
    )
    train.add_argument("--video", default=None, metavar="DIR", help="RecordVideos dirname")
    train.add_argument("--video-every", type=int, default=100, metavar="N")
    train.add_argument("--eval-episodes", type=int, default=20)
    train.add_argument(
        "--seeds", type=int, default=1, metavar="N", help="train N seeds at once (vmapped)"
    )
    train.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="sweep a hyper-parameter (repeatable: grid); env parameters as env/NAME",
    )
    train.add_argument(
        "--shard",
        choices=("seeds", "envs"),
        default=None,
        help="split the seeds or the envs over all devices",
    )
    train.add_argument(
        "--cpu-devices",
        type=int,
        default=None,
        metavar="N",
        help="show N CPU devices (e.g. one per core) for --shard; CPU only",
    )
    train.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="PATH",
        help="policy directory, loadable with lerax.load_policy(PATH) (default: <env>_<algo>)",
    )
    add_plot_subparser(commands)
    return parser


def build_callbacks(args: argparse.Namespace, env) -> list:
    from lerax.callback import (
        ConsoleBackend,
        EarlyStopping,
        EvalCallback,
        LoggingCallback,
        PrintProgress,
        RecordVideos,
        SaveCheckpoints,
        SQLiteBackend,
        TensorBoardBackend,
        WandbBackend,
    )

    try:
        backends = [ConsoleBackend()]
    except ImportError:  # plain `pip install -e .` has no rich: plain progress lines instead
        backends = []
    console = bool(backends)
    if not args.no_db:
        backends.append(SQLiteBackend(path=args.db))
    if args.tensorboard is not None:
        backends.append(TensorBoardBackend(log_dir=args.tensorboard))
    if args.wandb is not None:
        backends.append(WandbBackend(project=args.wandb))
    callbacks = []
    if backends:
        callbacks.append(LoggingCallback(backends, env=env, log_interval=args.log_every))
    if not console:
        callbacks.append(PrintProgress(every=args.log_every))
    if args.checkpoint is not None:
        callbacks.append(SaveCheckpoints(args.checkpoint, frequency=args.checkpoint_every))
    if args.early_stop is not None:
        callbacks.append(EarlyStopping(args.early_stop))
    if args.eval_every is not None:
        callbacks.append(EvalCallback(env, every=args.eval_every, num_episodes=8))
    if args.video is not None:
        callbacks.append(RecordVideos(args.video, frequency=args.video_every))
    return callbacks


def train(args: argparse.Namespace) -> int:
    import jax
    import jax.random as jr
    import numpy as np

    from lerax import env as envs
    from lerax.algorithm import PPO
    from lerax.algorithm._resume_checks import check_resume
    from lerax.callback import as_callback
    from lerax.checkpoint import CheckpointError, latest_checkpoint, load
    from lerax.policy import MLPActorCriticPolicy, evaluate_policy, save_policy

    if args.cpu_devices is not None:
        if args.cpu_devices < 1:
            print(f"lerax: --cpu-devices must be >= 1, got {args.cpu_devices}")
            return 2
        try:  # read when the CPU backend starts: before anything below touches a device
            jax.config.update("jax_num_cpu_devices", args.cpu_devices)
        except RuntimeError:
            if jax.device_count() != args.cpu_devices:
                print(
                    f"lerax: --cpu-devices {args.cpu_devices}: JAX already started with "
                    f"{jax.device_count()} device(s) in this process; run lerax in a fresh one"
                )
                return 2
    env = getattr(envs, args.env)()
    policy_key, train_key, eval_key = jr.split(jr.key(args.seed), 3)
    algorithm = PPO(num_envs=args.num_envs)
    if args.seeds != 1 or args.sweep or args.shard is not None:
        return train_population_command(args, env, algorithm, train_key, eval_key)
    output = policy_output(args)
    if output is None:
        return 2
    resume = None
    if args.resume is not None:
        try:
            resume = latest_checkpoint(args.resume)
            loaded = load(resume)
        except CheckpointError as error:
            print(f"lerax: --resume: {error}")
            return 2
    callbacks = build_callbacks(args, env)
    budget = "the checkpoint's remaining" if args.resume else str(args.timesteps)
    print(
        f"lerax: training {type(algorithm).__name__} on {env.name} for {budget} steps "
        f"(seed {args.seed}, {args.num_envs} envs, JAX on {jax.default_backend()})",
        flush=True,
    )
    start = time.perf_counter()
    if resume is not None:
        state = algorithm.with_callbacks(loaded, callbacks)
        try:  # the checks `train` makes, here to answer with the command line's words
            check_resume(algorithm, state, as_callback(callbacks))
        except ValueError as error:
            print(f"lerax: --resume: {error} (--num-envs sets num_envs)")
            return 2
        planned = int(state.total_iterations) * algorithm.steps_per_iteration
        print(
            f"lerax: resuming from {resume} at iteration {int(state.iteration)} "
            f"({int(state.num_timesteps)} of {planned} planned steps done)"
        )
        state = algorithm.train(state, callback=callbacks)
    else:
        policy = MLPActorCriticPolicy(env=env, key=policy_key)
        state = algorithm.init(env, policy, args.timesteps, key=train_key, callback=callbacks)
        state = algorithm.train(state, callback=callbacks)
    policy = state.policy
    elapsed = time.perf_counter() - start
    if bool(state.stopped):
        print(f"lerax: stopped early by a callback after {int(state.iteration)} iterations")
    returns, _ = jax.jit(
        lambda p, k: evaluate_policy(env, p, num_episodes=args.eval_episodes, key=k)
    )(policy, eval_key)
    returns = np.asarray(returns)
    save_policy(output, policy, metadata={"env": env.name, "algorithm": type(algorithm).__name__})
    print(
        f"lerax: {int(state.num_timesteps)} steps in {elapsed:.1f}s (compilation included); "
        f"deterministic evaluation over {args.eval_episodes} episodes: mean return "
        f"{returns.mean():.1f} (min {returns.min():.1f}, max {returns.max():.1f}); "
        f"policy saved to {output} (load it with lerax.load_policy('{output}'))",
        flush=True,
    )
    return 0


def policy_output(args: argparse.Namespace) -> Path | None:
    """Where the trained policy goes (`--output`, default `<env>_<algo>`); None (after
    printing why) if that path is taken by something other than a directory."""
    output = args.output or Path(f"{args.env}_{args.algorithm}")
    if output.exists() and not output.is_dir():
        print(
            f"lerax: --output: '{output}' exists and is not a policy directory (a file "
            "from an older lerax?); remove it or choose another --output"
        )
        return None
    return output


def train_population_command(args: argparse.Namespace, env, algorithm, train_key, eval_key) -> int:
    """`--seeds` / `--sweep` / `--shard`: train the population, evaluate every member,
    print each config's mean and IQM over seeds, save the best member's policy."""
    import equinox as eqx
    import jax
    import jax.random as jr
    import numpy as np

    from lerax.callback.logging._aggregate import interquartile_mean
    from lerax.policy import MLPActorCriticPolicy, evaluate_policy, save_policy
    from lerax.population import parse_sweep, train_population

    if args.resume is not None:
        print("lerax: --resume continues one run; it cannot be combined with --seeds/--sweep")
        return 2
    output = policy_output(args)
    if output is None:
        return 2
    if args.seeds < 1:
        print(f"lerax: --seeds must be >= 1, got {args.seeds}")
        return 2
    try:
        sweep = parse_sweep(args.sweep) or None
    except ValueError as error:
        print(f"lerax: {error}")
        return 2
    callbacks = build_callbacks(args, env)
    configs = int(np.prod([len(v) for v in sweep.values()])) if sweep else 1
    print(
        f"lerax: training {type(algorithm).__name__} on {env.name} for {args.timesteps} steps "
        f"per member: {configs} config(s) x {args.seeds} seed(s) in one program "
        f"(JAX on {jax.default_backend()}, {jax.device_count()} device(s), "
        f"shard={args.shard})",
        flush=True,
    )
    start = time.perf_counter()
    try:
        population = train_population(
            algorithm,
            env,
            lambda k: MLPActorCriticPolicy(env=env, key=k),
            args.timesteps,
            key=train_key,
            num_seeds=args.seeds,
            sweep=sweep,
            callback=callbacks,
            shard=args.shard,
        )
    except (TypeError, ValueError) as error:
        print(f"lerax: {error}")
        return 2
    elapsed = time.perf_counter() - start
    depth, members = len(population.axes), int(np.prod(population.shape))
    policies = jax.tree.map(
        lambda x: x.reshape((-1,) + x.shape[depth:]) if eqx.is_array(x) else x, population.policy
    )

    def evaluate(policy, key):
        return evaluate_policy(env, policy, num_episodes=args.eval_episodes, key=key)[0].mean()

    scores = eqx.filter_jit(eqx.filter_vmap(evaluate))(policies, jr.split(eval_key, members))
    scores = np.asarray(scores)
    scores = scores.reshape(configs, args.seeds)
    for c in range(configs):
        label = ", ".join(f"{k}={float(v[c]):g}" for k, v in population.sweep.items()) or "seeds"
        print(
            f"lerax: {label}: evaluation return over {args.seeds} seed(s): mean "
            f"{scores[c].mean():.1f}, IQM {interquartile_mean(scores[c]):.1f}, "
            f"min {scores[c].min():.1f}, max {scores[c].max():.1f}"
        )
    best = int(np.argmax(scores.ravel()))
    index = np.unravel_index(best, population.shape)
    best_policy = population.member(*(int(i) for i in index)).policy
    save_policy(output, best_policy, metadata={"env": env.name, "member": [int(i) for i in index]})
    stopped = int(np.asarray(population.stopped).sum())
    print(
        f"lerax: {members} members in {elapsed:.1f}s (compilation included), {stopped} stopped "
        f"early; best member {tuple(int(i) for i in index)} (return {scores.ravel()[best]:.1f}) "
        f"saved to {output}",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "plot":
        return run_plot(args)
    if args.command == "train":
        return train(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
