import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.distribution import Normal, TanhNormal

LOC = np.array([0.3, -1.5], dtype=np.float32)
SCALE = np.array([0.8, 0.4], dtype=np.float32)


def _np_density_1d(y, loc, scale):
    """Change of variables: p_Y(y) = N(atanh(y); loc, scale) / (1 - y^2)."""
    x = np.arctanh(y)
    normal = np.exp(-((x - loc) ** 2) / (2 * scale**2)) / (scale * math.sqrt(2 * math.pi))
    return normal / (1 - y**2)


def _np_entropy_1d(loc, scale):
    """-integral p log p, integrated on a fine grid in pre-tanh space."""
    x = np.linspace(loc - 12 * scale, loc + 12 * scale, 400_001)
    p_x = np.exp(-((x - loc) ** 2) / (2 * scale**2)) / (scale * math.sqrt(2 * math.pi))
    log_det = (
        np.log1p(-(np.tanh(x) ** 2))
        if scale < 3
        else 2 * (math.log(2) - x - np.logaddexp(0, -2 * x))
    )
    base_entropy = 0.5 * math.log(2 * math.pi * math.e * scale**2)
    return base_entropy + np.trapezoid(p_x * log_det, x)


def test_log_prob_matches_change_of_variables():
    dist = TanhNormal(LOC, SCALE)
    y = np.array([0.2, -0.95], dtype=np.float32)
    expected = sum(
        math.log(_np_density_1d(float(y[i]), float(LOC[i]), float(SCALE[i]))) for i in range(2)
    )
    assert float(dist.log_prob(y)) == pytest.approx(expected, abs=1e-4)


def test_density_integrates_to_one():
    dist = TanhNormal(jnp.array([0.3]), jnp.array([0.8]))
    y = np.linspace(-1 + 1e-6, 1 - 1e-6, 200_001, dtype=np.float32)
    density = np.exp(np.asarray(jax.vmap(lambda v: dist.log_prob(v[None]))(y)), dtype=np.float64)
    assert np.trapezoid(density, y.astype(np.float64)) == pytest.approx(1.0, abs=1e-3)


def test_histogram_matches_density(getkey):
    loc, scale = 0.3, 0.8
    dist = TanhNormal(jnp.array([loc]), jnp.array([scale]))
    samples = np.asarray(jax.vmap(lambda k: dist.sample(key=k))(jr.split(getkey(), 200_000)))[:, 0]
    assert np.all(np.abs(samples) <= 1.0)
    counts, _ = np.histogram(samples, bins=20, range=(-1, 1))
    fine = np.linspace(-1 + 1e-9, 1 - 1e-9, 20 * 1000 + 1)
    bin_mass = [
        np.trapezoid(_np_density_1d(seg, loc, scale), seg) for seg in np.split(fine[:-1], 20)
    ]
    np.testing.assert_allclose(counts / len(samples), bin_mass, atol=3e-3)


def test_sample_and_log_prob_matches_log_prob(getkey):
    dist = TanhNormal(LOC, SCALE)
    value, log_prob = dist.sample_and_log_prob(key=getkey())
    assert value.shape == LOC.shape
    assert float(log_prob) == pytest.approx(float(dist.log_prob(value)), abs=1e-3)


def test_sample_and_log_prob_same_sample_as_sample(getkey):
    dist = TanhNormal(LOC, SCALE)
    key = getkey()
    value, _ = dist.sample_and_log_prob(key=key)
    np.testing.assert_allclose(value, dist.sample(key=key), atol=1e-6)


def test_saturated_sample_is_stable(getkey):
    # tanh(10 + ...) rounds to exactly 1.0 in float32; the pre-tanh path must stay finite.
    dist = TanhNormal(jnp.array([10.0, -12.0]), jnp.array([0.1, 0.1]))
    value, log_prob = dist.sample_and_log_prob(key=getkey())
    assert np.all(np.abs(np.asarray(value)) == 1.0)
    # Exact: log N(x) - log(1 - tanh(x)^2) ~ log N(x) + 2|x| - 2 log 2.
    assert np.isfinite(float(log_prob)) and float(log_prob) > 30.0
    assert np.isfinite(float(dist.log_prob(value)))
    key = getkey()
    grads = jax.grad(lambda m: TanhNormal(m, dist.scale).sample_and_log_prob(key=key)[1])(dist.loc)
    assert np.all(np.isfinite(np.asarray(grads)))


@pytest.mark.parametrize("loc,scale", [(0.0, 1.0), (0.5, 0.1), (-2.0, 0.7), (1.0, math.e**2)])
def test_entropy_matches_numerical_integration(loc, scale):
    dist = TanhNormal(jnp.array([loc]), jnp.array([scale]))
    assert float(dist.entropy()) == pytest.approx(_np_entropy_1d(loc, scale), abs=1e-3)


def test_entropy_matches_monte_carlo(getkey):
    dist = TanhNormal(LOC, SCALE)
    _, log_probs = jax.vmap(lambda k: dist.sample_and_log_prob(key=k))(jr.split(getkey(), 100_000))
    assert float(dist.entropy()) == pytest.approx(-float(jnp.mean(log_probs)), abs=0.01)
    assert float(dist.entropy()) < float(Normal(LOC, SCALE).entropy())


def test_mode_is_tanh_loc():
    np.testing.assert_allclose(TanhNormal(LOC, SCALE).mode(), np.tanh(LOC), atol=1e-6)


def test_jit_and_vmap(getkey):
    locs = jr.normal(getkey(), (6, 2))
    scales = jnp.exp(jr.normal(getkey(), (6, 2)) * 0.3)
    keys = jr.split(getkey(), 6)

    @eqx.filter_jit
    def fn(loc, scale, keys):
        def one(m, s, k):
            d = TanhNormal(m, s)
            value, log_prob = d.sample_and_log_prob(key=k)
            return value, log_prob, d.log_prob(value), d.entropy()

        return jax.vmap(one)(loc, scale, keys)

    value, log_prob, log_prob_again, entropy = fn(locs, scales, keys)
    assert value.shape == (6, 2) and log_prob.shape == entropy.shape == (6,)
    np.testing.assert_allclose(log_prob, log_prob_again, atol=1e-3)


def test_log_prob_of_pre_tanh_is_the_density_of_its_tanh():
    dist = TanhNormal(LOC, SCALE)
    x = np.array([0.2027, -1.8318], dtype=np.float32)  # tanh: [0.2, -0.95]
    expected = sum(
        math.log(_np_density_1d(math.tanh(float(x[i])), float(LOC[i]), float(SCALE[i])))
        for i in range(2)
    )
    assert float(dist.log_prob_of_pre_tanh(x)) == pytest.approx(expected, abs=1e-3)
    # Far in the tail tanh rounds to 1 in float32; the pre-tanh value keeps it exact.
    far = np.array([12.0, -1.5], dtype=np.float32)
    normal = Normal(LOC, SCALE).log_prob(far)
    log_det = 2 * (math.log(2) - 12.0 - math.log1p(math.exp(-24.0)))
    log_det += math.log1p(-(math.tanh(-1.5) ** 2))
    assert float(dist.log_prob_of_pre_tanh(far)) == pytest.approx(float(normal) - log_det, rel=1e-5)
