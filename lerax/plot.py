"""Learning curves from logged runs: seeds aggregated as a mean and a band, saved as a PNG.

`plot_learning_curves` reads the SQLite store that `SQLiteBackend` writes (the `lerax`
command line's `lerax_runs.db`), a TensorBoard log directory written by
`TensorBoardBackend`, or series you pass in memory. The seeds of one `jax.vmap(learn)`
population (`<name>/seed_<i>`) are grouped into one curve, `<name>`. Under nested vmaps
the LAST index is taken as the seed, as `lerax.population.train_population` nests them
(hyper-parameter values outside, seeds inside): `<name>/<i>_<j>` for every `j` is the
curve `<name>/<i>`. The population's aggregate runs (`<name>/aggregate`,
`<name>/aggregate_<i>`) are skipped, because the curves recompute them from the
members. Other runs are curves of their own, unless `runs` maps a label to several.

Aggregation (`aggregate_curves`), at every step logged by any member:

* a member takes part from its first to its last finite value (a member that stopped
  early drops out after its last log event); between two of its logged steps its value
  is linearly interpolated, which is exact at its own steps. NaN values (a log window
  without a finished episode) are skipped;
* the curve is the mean over the members taking part at that step;
* the band is their minimum and maximum (`band="minmax"`, the default), the 25th and
  75th percentiles (`band="iqr"`, linear interpolation between order statistics, as
  `numpy.percentile`), or none (`band="none"`).

matplotlib is an optional dependency: `pip install "lerax[plot]"`. The command line
form is `lerax plot --db runs.db --metric episode/return_mean --output curves.png`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lerax._plot_sources import Series
from lerax._plot_sources import reader as _reader

__all__ = [
    "LearningCurve",
    "aggregate_curves",
    "list_sources",
    "plot_learning_curves",
    "add_plot_subparser",
    "run_plot",
]

BANDS = ("minmax", "iqr", "none")
DEFAULT_METRIC = "episode/return_mean"
_SEED = re.compile(r"^(?P<group>.+)/seed_\d+$")
_NESTED = re.compile(r"^(?P<base>.+)/(?P<outer>\d+(?:_\d+)*)_\d+$")
_AGGREGATE = re.compile(r"^.+/aggregate(?:_\d+)*$")


@dataclasses.dataclass(frozen=True)
class LearningCurve:
    """One aggregated curve.

    Attributes:
        label: The legend label.
        steps: `int64[points]`, every step logged by any member, increasing.
        mean: `float64[points]`, mean over the members taking part at each step.
        low: `float64[points]`, lower edge of the band (equal to `mean` for `"none"`).
        high: `float64[points]`, upper edge of the band (equal to `mean` for `"none"`).
        count: `int64[points]`, how many members take part at each step.
        members: The names of the aggregated runs (or their positions for in-memory series).
    """

    label: str
    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray
    members: tuple[str, ...]


def aggregate_curves(
    series: Sequence[Series],
    *,
    band: str = "minmax",
    label: str = "",
    members: Sequence[str] | None = None,
) -> LearningCurve:
    """Aggregate the series of several seeds into one curve (see the module docstring).

    Args:
        series: One `(steps, values)` pair per member; steps need not be shared.
        band: `"minmax"`, `"iqr"` or `"none"`.
        label: The curve's label.
        members: Names of the members (default: their positions as strings).

    Returns:
        The `LearningCurve`; empty arrays when no member has a finite value.

    Raises:
        ValueError: `band` is unknown, `series` is empty, or a pair's arrays differ in
            length.
    """
    _check_band(band)
    if len(series) == 0:
        raise ValueError("aggregate_curves needs at least one (steps, values) series")
    cleaned = []
    for i, pair in enumerate(series):
        steps, values = (np.asarray(a) for a in pair)
        if steps.shape != values.shape or steps.ndim != 1:
            raise ValueError(
                f"series {i}: steps and values must be 1-D arrays of one length, "
                f"got shapes {steps.shape} and {values.shape}"
            )
        finite = np.isfinite(values)
        order = np.argsort(steps[finite], kind="stable")
        cleaned.append((steps[finite][order].astype(np.float64), values[finite][order]))
    names = tuple(members) if members is not None else tuple(str(i) for i in range(len(series)))
    present = [s for s in cleaned if s[0].size]
    grid = np.unique(np.concatenate([s for s, _ in present])) if present else np.zeros(0)
    table = np.full((len(cleaned), grid.size), np.nan)
    for row, (steps, values) in enumerate(cleaned):
        if steps.size:
            inside = (grid >= steps[0]) & (grid <= steps[-1])
            table[row, inside] = np.interp(grid[inside], steps, values)
    count = np.isfinite(table).sum(axis=0)
    if grid.size:
        mean = np.nanmean(table, axis=0)
        if band == "minmax":
            low, high = np.nanmin(table, axis=0), np.nanmax(table, axis=0)
        elif band == "iqr":
            low, high = np.nanpercentile(table, [25.0, 75.0], axis=0)
        else:
            low, high = mean, mean
    else:
        mean = low = high = np.zeros(0)
    return LearningCurve(
        label=label,
        steps=grid.astype(np.int64),
        mean=mean,
        low=np.asarray(low, np.float64),
        high=np.asarray(high, np.float64),
        count=count.astype(np.int64),
        members=names,
    )


def list_sources(source: str | os.PathLike) -> dict[str, list[str]]:
    """The runs of a SQLite store or TensorBoard log directory, grouped into curves.

    Returns:
        `{group: [run names]}` in the order the runs were created (SQLite) or sorted by
        path (TensorBoard); the seeds of a population share their group (see the
        module docstring), other runs form a group of one, and aggregate runs are left
        out.
    """
    return _group(list(_reader(source).runs()))


def plot_learning_curves(
    source: str | os.PathLike | Mapping[str, Sequence[Series]],
    metric: str = DEFAULT_METRIC,
    output: str | os.PathLike = "curves.png",
    *,
    runs: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    band: str = "minmax",
    title: str | None = None,
    width: int = 800,
    height: int = 500,
    dpi: int = 100,
) -> dict[str, LearningCurve]:
    """Plot the learning curves of one or several runs, seeds aggregated, to a PNG.

    Args:
        source: A SQLite file written by `SQLiteBackend`, a TensorBoard log directory
            written by `TensorBoardBackend` (the backend's `log_dir`), or an in-memory
            mapping `{label: [(steps, values), ...]}` with one pair per seed.
        metric: The metric to plot, e.g. `"episode/return_mean"` (the default),
            `"episode/return_ema"`, `"train/entropy"` or `"train/eval/mean_return"`.
        output: The PNG file to write (its folder is created).
        runs: Which curves to draw, for a file source. `None`: every group (see
            `list_sources`). A sequence of names: each is a group (a population's
            `<name>`, or `<name>/<i>` for one hyper-parameter value of a sweep, all its
            seeds aggregated) or one run's exact name. A mapping
            `{label: [run names]}`: each label is one curve aggregating those runs as
            seeds (for seeds trained in separate `learn` calls).
        band: `"minmax"` (default), `"iqr"` or `"none"` (see the module docstring).
        title: The figure title (default: the metric).
        width: Image width in pixels.
        height: Image height in pixels.
        dpi: Dots per inch (fonts scale with it; the pixel size does not).

    Returns:
        `{label: LearningCurve}` in drawing order: the numbers that were plotted.

    Raises:
        ImportError: matplotlib (or, for a TensorBoard source, tensorboard) is missing.
        FileNotFoundError: `source` does not exist.
        ValueError: Bad `band`, size or `runs`; a requested run does not exist; or no
            selected run has a finite value of `metric` (the message lists the metrics
            that exist).
        TypeError: `source`, `metric` or `runs` has the wrong type.
    """
    _check_band(band)
    if not isinstance(metric, str) or not metric:
        raise TypeError(f"metric must be a non-empty str, got {metric!r}")
    for name, value in (("width", width), ("height", height), ("dpi", dpi)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    figure_class = _require_matplotlib()
    if isinstance(source, Mapping):
        if runs is not None:
            raise ValueError("runs selects runs of a file source; omit it for in-memory series")
        curves = {
            str(label): aggregate_curves(list(pairs), band=band, label=str(label))
            for label, pairs in source.items()
        }
    elif isinstance(source, str | os.PathLike):
        curves = _curves_from_files(_reader(source), metric, runs, band)
    else:
        raise TypeError(
            "source must be a SQLite file, a TensorBoard directory or a mapping "
            f"{{label: [(steps, values), ...]}}, got {type(source).__name__}"
        )
    if not any(curve.steps.size for curve in curves.values()):
        raise ValueError(f"no finite values of {metric!r} in the selected runs")
    _draw(figure_class, curves, metric, Path(output), band, title, width, height, dpi)
    return curves


def _group(names: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in names:
        if _AGGREGATE.match(name):
            continue
        seed, nested = _SEED.match(name), _NESTED.match(name)
        if seed:
            group = seed["group"]
        elif nested:
            group = f"{nested['base']}/{nested['outer']}"
        else:
            group = name
        groups.setdefault(group, []).append(name)
    return groups


def _select(available: list[str], runs) -> dict[str, list[str]]:
    groups = _group(available)
    if runs is None:
        return groups
    if isinstance(runs, str):
        raise TypeError(f"runs must be a sequence or mapping of run names, got the str {runs!r}")
    if isinstance(runs, Mapping):
        selected = {str(label): list(names) for label, names in runs.items()}
        for label, names in selected.items():
            if not names or any(not isinstance(n, str) for n in names):
                raise ValueError(f"runs[{label!r}] must be a non-empty list of run names")
        wanted = [n for names in selected.values() for n in names]
    else:
        selected = {}
        for name in runs:
            if not isinstance(name, str):
                raise TypeError(f"runs must hold run names (str), got {name!r}")
            selected[name] = groups.get(name, [name])
        wanted = [n for names in selected.values() for n in names]
    missing = [n for n in wanted if n not in available]
    if missing:
        raise ValueError(f"no run named {missing[0]!r}; groups: {list(groups)}; runs: {available}")
    return selected


def _curves_from_files(reader, metric: str, runs, band: str) -> dict[str, LearningCurve]:
    available = reader.runs()
    if not available:
        raise ValueError(f"no runs in {str(reader.path)!r}")
    curves = {}
    for label, names in _select(available, runs).items():
        series = [reader.metric(name, metric) for name in names]
        curves[label] = aggregate_curves(series, band=band, label=label, members=names)
    if not any(curve.steps.size for curve in curves.values()):
        known = sorted(
            {
                m
                for names in _select(available, runs).values()
                for n in names
                for m in reader.metrics(n)
            }
        )
        raise ValueError(f"no finite values of {metric!r} in the selected runs; metrics: {known}")
    return curves


# ---- drawing -----------------------------------------------------------------------


def _require_matplotlib():
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            'plotting learning curves needs matplotlib: pip install "lerax[plot]"'
        ) from error
    return Figure


def _draw(figure_class, curves, metric, output, band, title, width, height, dpi) -> None:
    figure = figure_class(figsize=(width / dpi, height / dpi), dpi=dpi)
    axes = figure.add_subplot()
    for curve in curves.values():
        if not curve.steps.size:
            continue
        seeds = int(curve.count.max())
        label = curve.label if seeds == 1 else f"{curve.label} ({seeds} seeds)"
        (line,) = axes.plot(curve.steps, curve.mean, label=label, linewidth=1.5)
        if band != "none" and seeds > 1:
            axes.fill_between(
                curve.steps, curve.low, curve.high, color=line.get_color(), alpha=0.2, linewidth=0
            )
    axes.set_xlabel("env steps")
    axes.set_ylabel(metric)
    band_text = {"minmax": "band: min-max", "iqr": "band: 25th-75th percentile", "none": ""}
    axes.set_title(title if title is not None else f"{metric}  {band_text[band]}".strip())
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=dpi, format="png")


def _check_band(band: str) -> None:
    if band not in BANDS:
        raise ValueError(f"band must be one of {BANDS}, got {band!r}")


# ---- command line ------------------------------------------------------------------


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
            for group, names in _group(reader.runs()).items():
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


if __name__ == "__main__":
    raise SystemExit(main())
