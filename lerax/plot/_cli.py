"""`lerax plot` on the command line (and `python -m lerax.plot`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._curves import BANDS, DEFAULT_METRIC, group_runs
from ._draw import plot_learning_curves
from ._sources import reader as _reader


def add_plot_subparser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `lerax plot` to the `lerax` command line's sub-commands.

    Args:
        subparsers: The object `ArgumentParser.add_subparsers` returned.

    Returns:
        The `plot` sub-parser.
    """
    plot = subparsers.add_parser(
        "plot",
        help="Plot learning curves (seeds as mean and band) to a PNG.",
        description="Plot learning curves from the SQLite store or TensorBoard logs. "
        "The seeds of a vmapped population (<name>/seed_<i>; <name>/<i>_<j> under a "
        "sweep, j the seed) are one curve: their mean and a band.",
    )
    where = plot.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", type=Path, metavar="PATH", help="SQLite store (lerax_runs.db)")
    where.add_argument("--tensorboard", type=Path, metavar="DIR", help="TensorBoard log_dir")
    plot.add_argument("--metric", default=DEFAULT_METRIC, help=f"default: {DEFAULT_METRIC}")
    plot.add_argument("--output", type=Path, default=Path("curves.png"), help="PNG file")
    plot.add_argument(
        "--runs", nargs="+", default=None, metavar="NAME", help="groups or runs (default: all)"
    )
    plot.add_argument("--band", choices=BANDS, default="minmax")
    plot.add_argument("--title", default=None)
    plot.add_argument("--width", type=int, default=800, help="pixels")
    plot.add_argument("--height", type=int, default=500, help="pixels")
    plot.add_argument("--list", action="store_true", help="list the runs and metrics, no plot")
    return plot


def run_plot(args: argparse.Namespace) -> int:
    """Run `lerax plot` with the parsed arguments; returns the exit code."""
    source = args.db if args.db is not None else args.tensorboard
    try:
        if args.list:
            reader = _reader(source)
            for group, names in group_runs(reader.runs()).items():
                print(f"{group}: {len(names)} run(s)")
            metrics = sorted({m for name in reader.runs() for m in reader.metrics(name)})
            print("metrics: " + ", ".join(metrics))
            return 0
        curves = plot_learning_curves(
            source,
            args.metric,
            args.output,
            runs=args.runs,
            band=args.band,
            title=args.title,
            width=args.width,
            height=args.height,
        )
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f"lerax plot: {error}")
        return 1
    described = ", ".join(f"{c.label} ({len(c.members)} run(s))" for c in curves.values())
    print(f"lerax plot: wrote {args.output}: {args.metric} of {described}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m lerax.plot ...`: the same as `lerax plot ...`."""
    parser = argparse.ArgumentParser(prog="python -m lerax.plot")
    add_plot_subparser(parser.add_subparsers(dest="command", required=True))
    return run_plot(parser.parse_args(["plot", *(argv if argv is not None else [])]))
