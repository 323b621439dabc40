"""Drawing aggregated learning curves to a PNG with matplotlib (an optional dependency)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._curves import (
    DEFAULT_METRIC,
    LearningCurve,
    aggregate_curves,
    check_band,
    curves_from_files,
)
from ._sources import Series
from ._sources import reader as _reader


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
        band: `"minmax"` (default), `"iqr"` or `"none"` (see the `lerax.plot` docstring).
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
    check_band(band)
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
        curves = curves_from_files(_reader(source), metric, runs, band)
    else:
        raise TypeError(
            "source must be a SQLite file, a TensorBoard directory or a mapping "
            f"{{label: [(steps, values), ...]}}, got {type(source).__name__}"
        )
    if not any(curve.steps.size for curve in curves.values()):
        raise ValueError(f"no finite values of {metric!r} in the selected runs")
    _draw(figure_class, curves, metric, Path(output), band, title, width, height, dpi)
    return curves


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
