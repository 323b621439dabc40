"""The across-members statistics of the aggregate runs (host side, plain numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import trim_mean

from lerax.callback.logging._aggregate import (
    aggregate_key,
    aggregate_scalars,
    groups,
    interquartile_mean,
    shared_values,
    summarize,
)
from lerax.host import member_label


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 64])
def test_interquartile_mean_is_rliables_25_percent_trimmed_mean(n):
    values = np.random.default_rng(n).normal(size=n) * 10
    assert interquartile_mean(values) == pytest.approx(trim_mean(values, 0.25), rel=1e-12)


def test_interquartile_mean_drops_the_extremes():
    assert interquartile_mean(np.array([100.0, 1.0, 2.0, -100.0])) == 1.5
    assert interquartile_mean(np.array([1.0, 2.0, 3.0])) == 2.0  # < 4 values: the mean


def test_summarize_ignores_non_finite_values():
    stats = summarize(np.array([1.0, np.nan, 3.0, np.inf]))
    assert stats == {"mean": 2.0, "min": 1.0, "max": 3.0, "iqm": 2.0}
    assert summarize(np.array([np.nan, np.nan])) == {}


def test_groups_by_leading_axes_with_fallback():
    index = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [1, 2]])
    assert {k: v.tolist() for k, v in groups(index, 0).items()} == {("aggregate",): [0, 1, 2, 3, 4]}
    assert {k: v.tolist() for k, v in groups(index, 1).items()} == {
        ("aggregate", 0): [0, 1],
        ("aggregate", 1): [2, 3, 4],
    }
    assert aggregate_key((3,), 1) == ("aggregate",)  # too few axes: one aggregate
    assert aggregate_key((), 2) == ("aggregate",)
    assert member_label(("aggregate", 1)) == "aggregate_1"
    assert member_label(("aggregate",)) == "aggregate"


def test_aggregate_scalars_and_shared_values():
    table = {"a": np.array([1.0, 2.0, 30.0, 40.0]), "b": np.array([np.nan] * 4)}
    out = aggregate_scalars(table, np.array([2, 3]))
    assert out == {"a/mean": 35.0, "a/min": 30.0, "a/max": 40.0, "a/iqm": 35.0}
    hparams = {"lr": np.array([1e-3, 1e-3, 3e-4]), "seed": np.array([0, 1, 2])}
    assert shared_values(hparams, np.array([0, 1])) == {"lr": 1e-3}


@pytest.mark.parametrize("members", [1, 3, 4, 5, 16, 33])
def test_aggregate_scalars_equals_each_metrics_statistics(members):
    """The all-metrics-at-once computation gives each metric's mean, min, max and IQM
    over its finite entries; all-NaN metrics are left out."""
    rng = np.random.default_rng(members)
    table = {f"m{i}": rng.normal(size=members + 2) * 10 for i in range(6)}
    table["m1"][rng.random(members + 2) < 0.3] = np.nan
    table["m2"][0] = np.inf
    table["m3"][:] = np.nan
    table["m4"] = rng.integers(0, 5, size=members + 2).astype(np.float32)
    rows = rng.permutation(members + 2)[:members]
    out = aggregate_scalars(table, rows)
    expected = {}  # computed independently, metric by metric
    for key, values in table.items():
        finite = values[rows][np.isfinite(values[rows])].astype(np.float64)
        if finite.size:
            expected[f"{key}/mean"] = finite.mean()
            expected[f"{key}/min"] = finite.min()
            expected[f"{key}/max"] = finite.max()
            expected[f"{key}/iqm"] = interquartile_mean(finite)
    assert list(out) == list(expected)  # same metrics, same order; m3 absent
    assert all(type(v) is float for v in out.values())
    np.testing.assert_allclose(list(out.values()), list(expected.values()), rtol=1e-12)
