"""`lerax train ALGO ENV`: build the run from the zoo table and the flags, train one
policy or a population, evaluate, save and report."""

from __future__ import annotations

import argparse
import math
import time
import tomllib
from pathlib import Path
from typing import Any

from lerax._cli_report import (
    CompileTimer,
    UserError,
    output_lines,
    print_summary,
    summary_statistics,
    write_results,
)

_STEPS_PER_LOG = 1_000
"""`--log-every`'s default: a log event about every this many env steps."""


def parse_value(text: str) -> Any:
    """A `--set` value: a TOML literal (`1e-3`, `true`, `[64, 64]`), a comma list
    (`64,64`), else the text itself (`huber`)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if "," in text:
            return [parse_value(part.strip()) for part in text.split(",")]
        return text


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UserError(f"--set {pair!r}: expected NAME=VALUE, e.g. --set learning_rate=3e-4")
        overrides[name.strip()] = parse_value(value.strip())
    return overrides


def plan(args: argparse.Namespace):
    """The env to train on (behind the normalisation layers when the entry says
    so), the table entry with every flag applied, and the algorithm."""
    from lerax.zoo import ZooError, hyperparameters, make_env
    from lerax.zoo._table import apply_overrides, build_algorithm, check_fits, normalized_env

    try:
        env = make_env(args.env)
        check_fits(args.algorithm, args.env, env)
    except ZooError as error:
        raise UserError(str(error)) from None
    overrides = parse_overrides(args.set)
    if args.num_envs is not None:
        overrides["num_envs"] = args.num_envs
    if args.timesteps is not None:
        overrides["timesteps"] = args.timesteps
    try:
        entry = apply_overrides(hyperparameters(args.algorithm, args.env), overrides)
        algorithm = build_algorithm(args.algorithm, entry["algorithm"])
    except (ZooError, TypeError, ValueError) as error:
        raise UserError(f"{_first_line(error)} (fix the --set value or flag)") from None
    env = normalized_env(env, entry)
    timesteps = entry["timesteps"]
    minimum = algorithm.steps_per_iteration
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < minimum:
        raise UserError(
            f"--timesteps {timesteps!r} is below one iteration of {type(algorithm).__name__} "
            f"({minimum} env steps); use --timesteps {minimum} or more"
        )
    return env, entry, algorithm


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def build_callbacks(args: argparse.Namespace, env, algorithm) -> list:
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
    from lerax.env.wrapper import without_normalization

    log_every = args.log_every
    if log_every is None:
        log_every = max(1, math.ceil(_STEPS_PER_LOG / algorithm.steps_per_iteration))
    args.log_every = log_every
    try:  # paced by time: a redraw every 0.1 s on a terminal, a line every 3 s elsewhere
        backends = [ConsoleBackend(show_members=args.show_members)]
    except ImportError:  # plain `pip install -e .` has no rich: plain progress lines instead
        backends = []
    console = bool(backends)
    try:
        if not args.no_db:
            backends.append(SQLiteBackend(path=args.db))
        if args.tensorboard is not None:
            backends.append(TensorBoardBackend(log_dir=args.tensorboard))
        if args.wandb is not None:
            backends.append(WandbBackend(project=args.wandb))
    except ImportError as error:
        raise UserError(_first_line(error)) from None
    callbacks = []
    if backends:
        callbacks.append(LoggingCallback(backends, env=env, log_interval=log_every))
    if not console:
        callbacks.append(PrintProgress(every=log_every))
    try:
        if args.checkpoint is not None:
            callbacks.append(SaveCheckpoints(args.checkpoint, frequency=args.checkpoint_every))
        if args.early_stop is not None:
            callbacks.append(EarlyStopping(args.early_stop))
        if args.eval_every is not None:
            eval_env = without_normalization(env)  # returns in the task's units
            callbacks.append(EvalCallback(eval_env, every=args.eval_every, num_episodes=8))
        if args.video is not None:
            callbacks.append(RecordVideos(args.video, frequency=args.video_every))
    except ImportError as error:
        raise UserError(_first_line(error)) from None
    except (TypeError, ValueError, FileExistsError) as error:
        raise UserError(_first_line(error)) from None
    return callbacks


def policy_output(args: argparse.Namespace) -> Path:
    """Where the trained policy goes (`--output`, default `<env>_<algo>`)."""
    default = f"{args.env.replace(':', '_').replace('/', '_')}_{args.algorithm}"
    output = args.output or Path(default)
    if output.exists() and not output.is_dir():
        raise UserError(
            f"--output: '{output}' exists and is not a policy directory (a file from an "
            "older lerax?); remove it or choose another --output"
        )
    return output


def check_numbers(args: argparse.Namespace) -> None:
    for flag, value in (
        ("--seeds", args.seeds),
        ("--eval-episodes", args.eval_episodes),
        ("--checkpoint-every", args.checkpoint_every),
        ("--video-every", args.video_every),
        ("--log-every", args.log_every),
        ("--eval-every", args.eval_every),
        ("--num-envs", args.num_envs),
    ):
        if value is not None and value < 1:
            raise UserError(f"{flag} must be >= 1, got {value}")


def train(args: argparse.Namespace) -> int:
    import jax
    import jax.random as jr
    import numpy as np

    from lerax.algorithm._resume_checks import check_resume
    from lerax.callback import as_callback
    from lerax.checkpoint import CheckpointError, latest_checkpoint, load
    from lerax.env.wrapper import without_normalization
    from lerax.policy import evaluate_policy, save_policy
    from lerax.zoo._table import build_policy

    check_numbers(args)
    if args.cpu_devices is not None:
        if args.cpu_devices < 1:
            raise UserError(f"--cpu-devices must be >= 1, got {args.cpu_devices}")
        try:  # read when the CPU backend starts: before anything below touches a device
            jax.config.update("jax_num_cpu_devices", args.cpu_devices)
        except RuntimeError:
            if jax.device_count() != args.cpu_devices:
                raise UserError(
                    f"--cpu-devices {args.cpu_devices}: JAX already started with "
                    f"{jax.device_count()} device(s) in this process; run lerax in a fresh one"
                ) from None
    env, entry, algorithm = plan(args)
    policy_key, train_key, eval_key = jr.split(jr.key(args.seed), 3)
    if args.seeds != 1 or args.sweep or args.shard is not None:
        return train_population_command(args, env, entry, algorithm, train_key, eval_key)
    output = policy_output(args)
    resume = None
    if args.resume is not None:
        try:
            resume = latest_checkpoint(args.resume)
            # The callbacks get fresh states below (`with_callbacks`), so the saved
            # ones are not read: a checkpoint of another lerax version resumes too.
            loaded = load(resume, callback_states=False)
        except CheckpointError as error:
            raise UserError(f"--resume: {error}") from None
    callbacks = build_callbacks(args, env, algorithm)
    budget = "the checkpoint's remaining" if args.resume else f"{entry['timesteps']:,}"
    name = type(algorithm).__name__
    print(
        f"lerax: training {name} on {env.name} for {budget} steps (seed {args.seed}, "
        f"{algorithm.num_envs} envs, JAX on {jax.default_backend()}; defaults from "
        f"lerax.zoo, changed with --set NAME=VALUE)",
        flush=True,
    )
    timer = CompileTimer.install()
    start = time.perf_counter()
    if resume is not None:
        state = algorithm.with_callbacks(loaded, callbacks)
        try:  # the checks `train` makes, here to answer with the command line's words
            check_resume(algorithm, state, as_callback(callbacks))
        except ValueError as error:
            raise UserError(f"--resume: {error} (--num-envs sets num_envs)") from None
        planned = int(state.total_iterations) * algorithm.steps_per_iteration
        print(
            f"lerax: resuming from {resume} at iteration {int(state.iteration)} "
            f"({int(state.num_timesteps)} of {planned} planned steps done)"
        )
        timer.start()
        state = algorithm.train(state, callback=callbacks)
    else:
        try:
            policy = build_policy(args.algorithm, env, entry["policy"], key=policy_key)
        except (TypeError, ValueError) as error:
            raise UserError(f"{_first_line(error)} (fix the --set value)") from None
        state = algorithm.init(env, policy, entry["timesteps"], key=train_key, callback=callbacks)
        timer.start()
        state = algorithm.train(state, callback=callbacks)
    policy = state.deployable_policy()  # with the observation statistics, if normalised
    elapsed = time.perf_counter() - start
    compile_seconds = timer.stop()
    eval_env = without_normalization(env)
    returns, _ = jax.jit(
        lambda p, k: evaluate_policy(eval_env, p, num_episodes=args.eval_episodes, key=k)
    )(policy, eval_key)
    returns = np.asarray(returns)
    save_policy(output, policy, metadata={"env": env.name, "algorithm": name})
    steps = int(state.num_timesteps)
    stopped = (
        f"; stopped early by a callback after {int(state.iteration)} iterations"
        if bool(state.stopped)
        else ""
    )
    lines = [
        (
            "evaluation",
            f"mean return {returns.mean():.1f}",
            f"deterministic, {args.eval_episodes} episodes (min {returns.min():.1f}, "
            f"max {returns.max():.1f})",
        ),
        *output_lines(args, output, args.algorithm),
    ]
    if args.results is not None:
        lines.append(("results", str(args.results), "JSON summary"))
        write_results(
            args.results,
            _record(args, entry, steps, elapsed, compile_seconds, [float(returns.mean())]),
        )
    print_summary(
        lines,
        f"lerax: done: {name} on {env.name}, {steps:,} steps in {elapsed:.1f} s "
        f"(compilation {compile_seconds:.1f} s){stopped}; policy saved to {output} "
        f"(load it with lerax.load_policy('{output}'))",
    )
    return 0


def _record(args, entry, steps, elapsed, compile_seconds, eval_returns) -> dict[str, Any]:
    return {
        "algorithm": args.algorithm,
        "env": args.env,
        "hyperparameters": {**entry["algorithm"], **entry["policy"]},
        "normalize": bool(entry.get("normalize", False)),
        "pool_statistics": bool(entry.get("pool_statistics", True)),
        "timesteps": steps,
        "wall_seconds": elapsed,
        "compile_seconds": compile_seconds,
        "seed": args.seed,
        "eval_episodes": args.eval_episodes,
        "eval_returns": eval_returns,
    }


def train_population_command(args, env, entry, algorithm, train_key, eval_key) -> int:
    """`--seeds` / `--sweep` / `--shard`: train the population, evaluate every member,
    print each config's mean and IQM over seeds, save the best member's policy."""
    import equinox as eqx
    import jax
    import jax.random as jr
    import numpy as np

    from lerax.env.wrapper import without_normalization
    from lerax.policy import evaluate_policy, save_policy
    from lerax.population import parse_sweep, train_population
    from lerax.zoo._table import build_policy

    if args.resume is not None:
        raise UserError("--resume continues one run; it cannot be combined with --seeds/--sweep")
    output = policy_output(args)
    try:
        sweep = parse_sweep(args.sweep) or None
    except ValueError as error:
        raise UserError(_first_line(error)) from None
    callbacks = build_callbacks(args, env, algorithm)
    configs = int(np.prod([len(v) for v in sweep.values()])) if sweep else 1
    name = type(algorithm).__name__
    print(
        f"lerax: training {name} on {env.name} for {entry['timesteps']:,} steps "
        f"per member: {configs} config(s) x {args.seeds} seed(s) in one program "
        f"(JAX on {jax.default_backend()}, {jax.device_count()} device(s), "
        f"shard={args.shard})",
        flush=True,
    )
    timer = CompileTimer.install()
    start = time.perf_counter()
    timer.start()
    try:
        population = train_population(
            algorithm,
            env,
            lambda k: build_policy(args.algorithm, env, entry["policy"], key=k),
            entry["timesteps"],
            key=train_key,
            num_seeds=args.seeds,
            sweep=sweep,
            callback=callbacks,
            shard=args.shard,
        )
    except (TypeError, ValueError) as error:
        raise UserError(_first_line(error)) from None
    finally:
        compile_seconds = timer.stop()
    elapsed = time.perf_counter() - start
    steps = entry["timesteps"] // algorithm.steps_per_iteration * algorithm.steps_per_iteration
    depth, members = len(population.axes), int(np.prod(population.shape))
    states = jax.tree.map(
        lambda x: x.reshape((-1,) + x.shape[depth:]) if eqx.is_array(x) else x, population.state
    )
    # Each member's policy with its observation statistics, if normalised.
    policies = eqx.filter_jit(eqx.filter_vmap(lambda s: s.deployable_policy()))(states)
    eval_env = without_normalization(env)

    def evaluate(policy, key):
        return evaluate_policy(eval_env, policy, num_episodes=args.eval_episodes, key=key)[0].mean()

    scores = eqx.filter_jit(eqx.filter_vmap(evaluate))(policies, jr.split(eval_key, members))
    flat = np.asarray(scores)
    scores = flat.reshape(configs, args.seeds)
    for c in range(configs):
        label = ", ".join(f"{k}={float(v[c]):g}" for k, v in population.sweep.items()) or "seeds"
        stats = summary_statistics(scores[c])
        print(
            f"lerax: {label}: evaluation return over {args.seeds} seed(s): mean "
            f"{stats['mean']:.1f}, IQM {stats['iqm']:.1f}, min {stats['min']:.1f}, "
            f"max {stats['max']:.1f}"
        )
    best = int(np.argmax(flat))
    index = np.unravel_index(best, population.shape)
    best_policy = jax.tree.map(lambda x: x[best] if eqx.is_array(x) else x, policies)
    save_policy(output, best_policy, metadata={"env": env.name, "member": [int(i) for i in index]})
    stopped = int(np.asarray(population.stopped).sum())
    stats = summary_statistics(flat)
    lines = [
        (
            "evaluation",
            f"IQM {stats['iqm']:.1f}",
            f"deterministic, {args.eval_episodes} episodes per member: mean "
            f"{stats['mean']:.1f}, min {stats['min']:.1f}, max {stats['max']:.1f}",
        ),
        *output_lines(args, output, args.algorithm),
    ]
    if args.results is not None:
        lines.append(("results", str(args.results), "JSON summary"))
        record = _record(args, entry, steps, elapsed, compile_seconds, [float(s) for s in flat])
        record["members"] = [
            [int(i) for i in np.unravel_index(m, population.shape)] for m in range(members)
        ]
        record["sweep"] = {k: [float(x) for x in v] for k, v in population.sweep.items()}
        write_results(args.results, record)
    print_summary(
        lines,
        f"lerax: done: {members} members in {elapsed:.1f}s (compilation "
        f"{compile_seconds:.1f} s), {stopped} stopped early; best member "
        f"{tuple(int(i) for i in index)} (return {flat[best]:.1f}) saved to {output}",
    )
    return 0
