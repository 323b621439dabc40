"""Box and Discrete: sampling, membership, clipping, equality, repr, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.space import Box, Discrete


def test_box_samples_are_inside_and_cover_the_box():
    box = Box(-1.0, 2.0, shape=(3,))
    samples = jax.vmap(lambda k: box.sample(key=k))(jr.split(jr.key(0), 4000))
    assert samples.shape == (4000, 3) and samples.dtype == jnp.float32
    assert bool(jnp.all(jax.vmap(box.contains)(samples)))
    np.testing.assert_allclose(samples.mean(0), 0.5, atol=0.05)  # uniform on [-1, 2]
    np.testing.assert_allclose(samples.min(0), -1.0, atol=0.01)
    np.testing.assert_allclose(samples.max(0), 2.0, atol=0.01)


def test_box_unbounded_and_half_bounded_dimensions():
    box = Box(np.array([-np.inf, 0.0, -np.inf]), np.array([np.inf, np.inf, 5.0]))
    samples = jax.vmap(lambda k: box.sample(key=k))(jr.split(jr.key(1), 4000))
    assert bool(jnp.all(jnp.isfinite(samples)))
    assert bool(jnp.all(samples[:, 1] >= 0.0)) and bool(jnp.all(samples[:, 2] <= 5.0))
    np.testing.assert_allclose(samples[:, 0].std(), 1.0, atol=0.1)  # standard normal


def test_box_contains_and_clip():
    box = Box(np.array([0.0, -1.0]), np.array([1.0, 1.0]))
    assert bool(box.contains(jnp.array([0.5, 0.0])))
    assert not bool(box.contains(jnp.array([1.5, 0.0])))
    assert not bool(box.contains(jnp.zeros(3)))
    np.testing.assert_array_equal(box.clip(jnp.array([2.0, -3.0])), [1.0, -1.0])
    assert bool(jax.jit(box.contains)(jnp.array([1.0, 1.0])))


def test_integer_box():
    box = Box(0, 3, shape=(2,), dtype=np.int32)
    samples = jax.vmap(lambda k: box.sample(key=k))(jr.split(jr.key(2), 2000))
    assert samples.dtype == jnp.int32
    assert set(np.unique(np.asarray(samples)).tolist()) == {0, 1, 2, 3}


def test_discrete_sample_contains_clip():
    space = Discrete(3)
    samples = np.asarray(jax.vmap(lambda k: space.sample(key=k))(jr.split(jr.key(3), 3000)))
    counts = np.bincount(samples, minlength=3)
    assert counts.sum() == 3000 and np.all(np.abs(counts / 3000 - 1 / 3) < 0.04)
    assert bool(space.contains(jnp.asarray(2))) and not bool(space.contains(jnp.asarray(3)))
    assert not bool(space.contains(jnp.asarray(1.0)))
    assert int(space.clip(jnp.asarray(7))) == 2 and int(space.clip(jnp.asarray(-1))) == 0
    assert space.shape == () and space.dtype == np.int32


def test_equality_hash_and_repr():
    assert Box(-1.0, 1.0, shape=(2,)) == Box(np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    assert Box(-1.0, 1.0, shape=(2,)) != Box(-1.0, 2.0, shape=(2,))
    assert Box(-1.0, 1.0, shape=(2,)) != Discrete(2)
    assert Discrete(4) == Discrete(4) and Discrete(4) != Discrete(5)
    assert len({Discrete(4), Discrete(4)}) == 1
    assert repr(Discrete(4)) == "Discrete(4)"
    assert repr(Box(-1.0, 1.0, shape=(2,))) == "Box(low=-1.0, high=1.0, shape=(2,), dtype=float32)"


def test_spaces_travel_through_jit():
    box = Box(-2.0, 2.0, shape=(2,))
    out = jax.jit(lambda s, k: s.sample(key=k))(box, jr.key(4))
    assert out.shape == (2,) and bool(box.contains(out))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Box(1.0, 0.0, shape=(2,)), "low"),
        (lambda: Box(np.zeros(2), np.ones(3)), "shape"),
        (lambda: Box(np.zeros(2), np.ones(2), shape=(3,)), "shape"),
        (lambda: Box(0.0, 1.0, shape=(2,), dtype=np.bool_), "dtype"),
        (lambda: Discrete(0), "`n`"),
        (lambda: Discrete(2.5), "`n`"),
        (lambda: Discrete(True), "`n`"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()
