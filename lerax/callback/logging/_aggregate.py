"""Across-members statistics of a vmapped population (host side).

One host call of a log event carries the rows of every member that was due, with
each row's member index tuple. From those rows the logging session derives the
aggregate runs:

* `group_axes=0` (default): ONE aggregate run over every member, `<name>/aggregate`;
* `group_axes=g`: members sharing their first `g` indices form a group (under
  `vmap(vmap(learn))` over hyper-parameter values x seeds, `g=1` groups the seeds of
  one hyper-parameter value) and each group of two or more members gets its own run
  `<name>/aggregate_<i>` (`aggregate_<i>_<j>` for `g=2`). When the index has at most
  `g` axes, grouping falls back to one aggregate over every member.

Each aggregate run logs, for every scalar, `<metric>/mean`, `<metric>/min`,
`<metric>/max` and `<metric>/iqm`, over the members of the group present in the
event whose value is finite. The interquartile mean is the mean of the middle half
of the sorted values: `floor(n / 4)` values are cut from each end, as rliable's
`trim_mean(x, 0.25)` does; it is the mean for fewer than four values.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

STATISTICS = ("mean", "min", "max", "iqm")


def interquartile_mean(values: np.ndarray) -> float:
    """Mean of the middle half of `values` (25% trimmed from each end).

    Args:
        values: A 1-D array of finite numbers, at least one.

    Returns:
        The interquartile mean as a Python float.
    """
    ordered = np.sort(np.asarray(values, np.float64).ravel())
    cut = ordered.size // 4
    return float(ordered[cut : ordered.size - cut].mean())


def summarize(values: np.ndarray) -> dict[str, float]:
    """`{"mean", "min", "max", "iqm"}` over the finite entries of `values`
    (empty when none is finite)."""
    count, statistics = _statistics(np.asarray(values, np.float64).reshape(1, -1))
    return dict(zip(STATISTICS, statistics[0], strict=True)) if count[0] else {}


def _statistics(values: np.ndarray) -> tuple[list[int], list[list[float]]]:
    """Per row of a `(metrics, members)` array: how many entries are finite, and
    `STATISTICS` over them (meaningless where none is).

    All metrics at once, one sort of the whole array instead of a sort and four
    reductions per metric: the writer thread does this at every log event of a
    population.
    """
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    mean = np.where(finite, values, 0.0).sum(axis=1) / np.maximum(count, 1)
    low = np.where(finite, values, np.inf).min(axis=1, initial=np.inf)
    high = np.where(finite, values, -np.inf).max(axis=1, initial=-np.inf)
    # Interquartile mean: sort with the non-finite entries (NaN) last, then average the
    # positions [n // 4, n - n // 4) of each row's n finite values.
    ordered = np.sort(np.where(finite, values, np.nan), axis=1)
    cut = count // 4
    position = np.arange(values.shape[1])
    middle = (position >= cut[:, None]) & (position < (count - cut)[:, None])
    iqm = np.where(middle, ordered, 0.0).sum(axis=1) / np.maximum(count - 2 * cut, 1)
    return count.tolist(), np.stack([mean, low, high, iqm], axis=1).tolist()


def aggregate_key(member: tuple[int, ...], group_axes: int) -> tuple:
    """The aggregate run a member belongs to: `("aggregate",)` or `("aggregate", *group)`.

    `lerax.host.member_label` names them `aggregate` and `aggregate_<i>[_<j>...]`.
    """
    depth = min(group_axes, max(len(member) - 1, 0))
    return ("aggregate", *member[:depth])


def run_group(member: tuple, group_axes: int) -> tuple:
    """The aggregate run that `member` (a member's index, or an aggregate's own key)
    belongs to; an aggregate run belongs to itself."""
    if member[:1] == ("aggregate",):
        return member
    return aggregate_key(member, group_axes)


def groups(index: np.ndarray, group_axes: int) -> dict[tuple, np.ndarray]:
    """Row numbers of each aggregate run present in one event.

    Args:
        index: `(rows, depth)` member index of the event's rows.
        group_axes: Leading index axes that identify a group.

    Returns:
        `{aggregate key: int64 row numbers}`, in order of first appearance.
    """
    out: dict[tuple, list[int]] = {}
    for r, row in enumerate(np.asarray(index)):
        member = tuple(int(i) for i in row)
        out.setdefault(aggregate_key(member, group_axes), []).append(r)
    return {key: np.asarray(rows, np.int64) for key, rows in out.items()}


def aggregate_scalars(table: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, float]:
    """`<metric>/<statistic>` over the given rows of a `{metric: per-row values}` table
    (`summarize` of every metric, computed for all of them at once)."""
    keys = list(table)
    if not keys:
        return {}
    return aggregate_rows(keys, np.stack([np.asarray(table[k], np.float64)[rows] for k in keys]).T)


def aggregate_rows(names: Sequence[str], matrix: np.ndarray) -> dict[str, float]:
    """`<metric>/<statistic>` of every column of a `(members, metrics)` matrix, the
    metrics named by `names` (a metric with no finite value gets no entry)."""
    if not len(names):
        return {}
    count, statistics = _statistics(np.asarray(matrix, np.float64).T)
    out: dict[str, float] = {}
    for labels, n, row in zip(_labels(tuple(names)), count, statistics, strict=True):
        if n:
            out.update(zip(labels, row, strict=True))
    return out


@functools.lru_cache(maxsize=64)
def _labels(names: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(f"{name}/{statistic}" for statistic in STATISTICS) for name in names)


def shared_values(per_row: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The per-row values that are equal over `rows` (one value each): a group's
    swept hyper-parameters, recorded once with its aggregate run."""
    out: dict[str, Any] = {}
    for key, values in per_row.items():
        selected = np.asarray(values)[rows]
        if selected.size and np.all(selected == selected[0]):
            out[key] = selected[0]
    return out
