"""Grouping logged runs into curves and aggregating the seeds of a curve (see the
`lerax.plot` docstring for the rules)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence

import numpy as np

from ._sources import Series
from ._sources import reader as _reader

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
    """Aggregate the series of several seeds into one curve (see the `lerax.plot` docstring).

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
    check_band(band)
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
        `lerax.plot` docstring), other runs form a group of one, and aggregate runs are left
        out.
    """
    return group_runs(list(_reader(source).runs()))


def group_runs(names: list[str]) -> dict[str, list[str]]:
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
    groups = group_runs(available)
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


def curves_from_files(reader, metric: str, runs, band: str) -> dict[str, LearningCurve]:
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


def check_band(band: str) -> None:
    if band not in BANDS:
        raise ValueError(f"band must be one of {BANDS}, got {band!r}")
