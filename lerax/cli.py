"""The `lerax` command line: `lerax train ALGO ENV`, `lerax zoo`, `lerax plot`.

`lerax train ppo CartPole` trains with the tuned defaults of `lerax.zoo` (the table in
`lerax/zoo/hyperparameters.toml`, from rl-baselines3-zoo); `--set NAME=VALUE`
changes any of them. By default a run logs through
`LoggingCallback([ConsoleBackend(), SQLiteBackend()])` (progress and metrics in the
terminal, every metric in `lerax_runs.db`), then evaluates the trained policy, saves
it and prints where everything went.

Populations: `--seeds 8` trains 8 seeds and `--sweep learning_rate=1e-3,3e-4`
(repeatable: the grid of every combination) trains every value, each with `--seeds`
seeds, as ONE program (`lerax.population.train_population`): one log run per member,
aggregate runs across seeds (mean, min, max, IQM), one checkpoint directory per
member. `--shard seeds|envs` splits the seeds or the envs over all devices.

On a CPU, JAX shows one device that runs a vmapped population on about one core;
`--cpu-devices N` shows N CPU devices instead (e.g. one per core), so that
`--shard seeds` spreads the seeds over the cores.

User errors (bad values, missing files, missing extras) print one line and exit with
status 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lerax._cli_report import UserError
from lerax.plot import add_plot_subparser, run_plot
from lerax.zoo import ALGORITHMS, BUILT_IN_ENVS


class _HELP(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default, unless its help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        return text + (" " if text else "") + "(default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lerax", description="Reinforcement learning on JAX.", formatter_class=_HELP
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="Train a policy with the zoo's tuned defaults and save it.",
        formatter_class=_HELP,
        description="Train ALGO on ENV with the tuned defaults of `lerax zoo` "
        "(change any with --set NAME=VALUE), evaluate, save the policy.",
    )
    train.add_argument("algorithm", choices=ALGORITHMS, type=str.lower, help="algorithm")
    train.add_argument(
        "env",
        help=f"env: {', '.join(BUILT_IN_ENVS)}, or gymnax:ID, gymnasium:ID, brax:ID "
        "(with that extra installed)",
    )
    train.add_argument(
        "--timesteps", type=int, default=None, help="env steps (all envs); default: the table's"
    )
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a tuned default (repeatable): an algorithm argument "
        "(learning_rate=3e-4), hidden=128,128, activation=relu, target_update.every=N",
    )
    train.add_argument(
        "--seed", type=int, default=0, help="seed of the policy, training and evaluation"
    )
    train.add_argument("--num-envs", type=int, default=None, help="default: the table's")
    train.add_argument(
        "--log-every",
        type=int,
        default=None,
        help="iterations between log events; default: about every 1,000 env steps",
    )
    train.add_argument("--db", type=Path, default=Path("lerax_runs.db"), help="SQLite run store")
    train.add_argument("--no-db", action="store_true", help="do not write the SQLite store")
    train.add_argument(
        "--tensorboard", type=Path, default=None, metavar="DIR", help="TensorBoard log dir"
    )
    train.add_argument("--wandb", default=None, metavar="PROJECT", help="W&B project (offline)")
    train.add_argument(
        "--checkpoint", default=None, metavar="NAME", help="save checkpoints to checkpoints/NAME"
    )
    train.add_argument(
        "--checkpoint-every", type=int, default=100, metavar="N", help="iterations between saves"
    )
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
    train.add_argument(
        "--video", default=None, metavar="NAME", help="record videos to checkpoints/NAME/videos"
    )
    train.add_argument(
        "--video-every", type=int, default=100, metavar="N", help="iterations between videos"
    )
    train.add_argument(
        "--eval-episodes", type=int, default=20, help="episodes of the final evaluation"
    )
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
        help="policy directory, loadable with lerax.load_policy(PATH); default: <env>_<algo>",
    )
    train.add_argument(
        "--results", type=Path, default=None, metavar="PATH", help="write a JSON summary"
    )
    train.add_argument(
        "--show-members",
        action="store_true",
        help="show every member of a population on the console (default: the aggregate)",
    )
    train.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    zoo = commands.add_parser(
        "zoo", help="List the tuned defaults and the scores they reach.", formatter_class=_HELP
    )
    zoo.add_argument("algorithm", nargs="?", default=None, help="only this algorithm")
    zoo.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    add_plot_subparser(commands)
    return parser


def run_zoo(args: argparse.Namespace) -> int:
    """`lerax zoo`: one line per table entry with its budget, the zoo's score,
    what `benchmarks/zoo.py` measured and whether it trains behind the normalisation
    layers."""
    from lerax.zoo import entries, hyperparameters, table_path
    from lerax.zoo._table import check_algorithm

    chosen = None if args.algorithm is None else check_algorithm(args.algorithm)
    rows = [
        ("algorithm", "env", "timesteps", "zoo score", "lerax IQM (min) of 8 seeds", "normalize")
    ]
    for algo, env in entries():
        if chosen is not None and algo != chosen:
            continue
        entry = hyperparameters(algo, env)
        zoo, measured = entry.get("zoo", {}), entry.get("measured")
        reached = f"{measured['iqm']:.1f} ({measured['min']:.1f})" if measured else "not measured"
        score = f"{zoo['score']:g} @ {zoo['timesteps']:,}" if zoo else "-"
        normalize = "yes" if entry.get("normalize", False) else "no"
        rows.append((algo, env, f"{entry['timesteps']:,}", score, reached, normalize))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(
        f"table: {table_path()}; one entry: lerax.zoo.hyperparameters(ALGO, ENV); "
        "train: lerax train ALGO ENV [--set NAME=VALUE]"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "plot":
        return run_plot(args)
    try:
        if args.command == "train":
            from lerax._cli_train import train

            return train(args)
        if args.command == "zoo":
            return run_zoo(args)
    except UserError as error:
        if args.debug:
            raise
        print(f"lerax: {error}", file=sys.stderr, flush=True)
        return 2
    except ValueError as error:  # lerax.zoo.ZooError and the checks of lerax's classes
        if args.debug:
            raise
        text = (str(error).strip() or type(error).__name__).splitlines()[0]
        print(f"lerax: {text} (run with --debug for the traceback)", file=sys.stderr, flush=True)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
