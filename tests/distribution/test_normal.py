import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.distribution import Normal

LOC = np.array([0.5, -1.0, 2.0], dtype=np.float32)
SCALE = np.array([0.3, 1.0, 2.5], dtype=np.float32)


def _np_log_density(x, loc, scale):
    return np.sum(-((x - loc) ** 2) / (2 * scale**2) - np.log(scale * math.sqrt(2 * math.pi)))


def test_log_prob_matches_gaussian_formula():
    dist = Normal(LOC, SCALE)
    x = np.array([0.1, 0.0, 5.0], dtype=np.float32)
    expected = _np_log_density(x.astype(np.float64), LOC, SCALE.astype(np.float64))
    assert float(dist.log_prob(x)) == pytest.approx(expected, abs=1e-5)


def test_entropy_closed_form():
    expected = np.sum(0.5 * np.log(2 * math.pi * math.e * SCALE.astype(np.float64) ** 2))
    assert float(Normal(LOC, SCALE).entropy()) == pytest.approx(expected, abs=1e-5)


def test_scalar_scale_broadcasts():
    dist = Normal(LOC, 2.0)
    assert dist.scale.shape == LOC.shape
    assert float(dist.entropy()) == pytest.approx(
        3 * 0.5 * math.log(2 * math.pi * math.e * 4.0), abs=1e-5
    )


def test_mode_is_loc():
    np.testing.assert_array_equal(Normal(LOC, SCALE).mode(), LOC)


def test_sample_statistics(getkey):
    dist = Normal(LOC, SCALE)
    samples = np.asarray(jax.vmap(lambda k: dist.sample(key=k))(jr.split(getkey(), 50_000)))
    assert samples.shape == (50_000, 3) and samples.dtype == np.float32
    assert np.all(np.abs(samples.mean(0) - LOC) < 4 * SCALE / math.sqrt(50_000))
    np.testing.assert_allclose(samples.std(0), SCALE, rtol=0.02)


def test_sample_and_log_prob_consistent(getkey):
    dist = Normal(LOC, SCALE)
    value, log_prob = dist.sample_and_log_prob(key=getkey())
    assert float(log_prob) == pytest.approx(float(dist.log_prob(value)), abs=1e-5)


def test_jit_and_vmap(getkey):
    locs = jr.normal(getkey(), (5, 2))
    scales = jnp.exp(jr.normal(getkey(), (5, 2)) * 0.3)
    values = jr.normal(getkey(), (5, 2))

    @eqx.filter_jit
    def fn(loc, scale, value):
        return jax.vmap(lambda m, s, v: Normal(m, s).log_prob(v))(loc, scale, value)

    out = fn(locs, scales, values)
    expected = [
        _np_log_density(*(np.asarray(a[i], np.float64) for a in (values, locs, scales)))
        for i in range(5)
    ]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_log_prob_gradient_wrt_loc():
    # d/dmu log N(x; mu, s) = (x - mu) / s^2.
    x = jnp.asarray([1.0, 0.0, 0.0])
    grad = jax.grad(lambda m: Normal(m, SCALE).log_prob(x))(jnp.asarray(LOC))
    np.testing.assert_allclose(grad, (np.asarray(x) - LOC) / SCALE**2, rtol=1e-5)
