import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.distribution import AbstractDistribution, Categorical

LOGITS = np.array([0.3, -1.2, 2.0, 0.0], dtype=np.float32)


def _np_log_softmax(logits):
    shifted = logits - logits.max()
    return shifted - math.log(np.exp(shifted).sum())


def test_is_a_distribution():
    assert isinstance(Categorical(LOGITS), AbstractDistribution)


def test_log_prob_matches_log_softmax():
    dist = Categorical(LOGITS)
    expected = _np_log_softmax(LOGITS.astype(np.float64))
    for i in range(len(LOGITS)):
        assert float(dist.log_prob(jnp.int32(i))) == pytest.approx(expected[i], abs=1e-6)
    np.testing.assert_allclose(dist.probs, np.exp(expected), atol=1e-6)


def test_log_prob_invariant_to_logit_shift():
    a, b = Categorical(LOGITS), Categorical(LOGITS + 100.0)
    np.testing.assert_allclose(a.log_probs, b.log_probs, atol=1e-5)


def test_entropy_closed_form():
    p = np.exp(_np_log_softmax(LOGITS.astype(np.float64)))
    expected = -np.sum(p * np.log(p))
    assert float(Categorical(LOGITS).entropy()) == pytest.approx(expected, abs=1e-6)
    # Uniform: log(n).
    assert float(Categorical(jnp.zeros(5)).entropy()) == pytest.approx(math.log(5), abs=1e-6)


def test_mode_is_argmax():
    mode = Categorical(LOGITS).mode()
    assert int(mode) == 2 and mode.dtype == jnp.int32 and mode.shape == ()


def test_sample_frequencies(getkey):
    dist = Categorical(LOGITS)
    keys = jr.split(getkey(), 40_000)
    samples = np.asarray(jax.vmap(lambda k: dist.sample(key=k))(keys))
    assert samples.dtype == np.int32
    freq = np.bincount(samples, minlength=len(LOGITS)) / len(samples)
    np.testing.assert_allclose(freq, np.exp(_np_log_softmax(LOGITS)), atol=0.01)


def test_sample_and_log_prob_consistent(getkey):
    dist = Categorical(LOGITS)
    value, log_prob = dist.sample_and_log_prob(key=getkey())
    assert float(log_prob) == pytest.approx(float(dist.log_prob(value)))


def test_jit_and_vmap_over_batch(getkey):
    logits = jr.normal(getkey(), (7, 3))
    actions = jnp.arange(7) % 3

    @eqx.filter_jit
    def fn(logits, actions, keys):
        def one(lg, a, k):
            d = Categorical(lg)
            return d.log_prob(a), d.entropy(), d.mode(), d.sample(key=k)

        return jax.vmap(one)(logits, actions, keys)

    log_prob, entropy, mode, sample = fn(logits, actions, jr.split(getkey(), 7))
    assert log_prob.shape == entropy.shape == mode.shape == sample.shape == (7,)
    lp = np.stack([_np_log_softmax(np.asarray(row, np.float64)) for row in logits])
    np.testing.assert_allclose(log_prob, lp[np.arange(7), np.asarray(actions)], atol=1e-5)
    np.testing.assert_array_equal(mode, np.argmax(np.asarray(logits), axis=-1))


def test_gradient_of_entropy_at_uniform_is_zero():
    grad = jax.grad(lambda lg: Categorical(lg).entropy())(jnp.zeros(4))
    np.testing.assert_allclose(grad, 0.0, atol=1e-7)
