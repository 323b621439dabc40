"""Target-network updates: hard copies on a gradient-step schedule, Polyak averaging."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.algorithm import AbstractTargetUpdate, HardUpdate, PolyakUpdate


class Net(eqx.Module):
    weight: jax.Array
    bias: jax.Array
    count: jax.Array  # an integer array: not a parameter, never blended
    name: str = eqx.field(static=True)


ONLINE = Net(jnp.full((2, 2), 4.0), jnp.asarray([1.0, -1.0]), jnp.asarray(7), "online")
TARGET = Net(jnp.zeros((2, 2)), jnp.asarray([3.0, 3.0]), jnp.asarray(0), "online")


def test_hard_update_copies_after_every_nth_gradient_step_only():
    update = HardUpdate(every=3)
    assert isinstance(update, AbstractTargetUpdate)
    for n in (1, 2, 4, 5):
        out = update(ONLINE, TARGET, jnp.asarray(n))
        np.testing.assert_array_equal(out.weight, TARGET.weight)
        np.testing.assert_array_equal(out.bias, TARGET.bias)
    for n in (3, 6, 9):
        out = update(ONLINE, TARGET, jnp.asarray(n))
        np.testing.assert_array_equal(out.weight, ONLINE.weight)
        np.testing.assert_array_equal(out.bias, ONLINE.bias)
        assert int(out.count) == 0  # integer leaves stay the target's
    every_step = HardUpdate(every=1)(ONLINE, TARGET, jnp.asarray(5))
    np.testing.assert_array_equal(every_step.bias, ONLINE.bias)


def test_polyak_update_values_and_dtypes():
    out = PolyakUpdate(tau=0.25)(ONLINE, TARGET, jnp.asarray(1))
    np.testing.assert_allclose(out.weight, np.full((2, 2), 1.0))  # 0.25 * 4 + 0.75 * 0
    np.testing.assert_allclose(out.bias, [0.25 * 1 + 0.75 * 3, 0.25 * -1 + 0.75 * 3])
    assert out.weight.dtype == jnp.float32 and int(out.count) == 0
    copy = PolyakUpdate(tau=1.0)(ONLINE, TARGET, jnp.asarray(1))
    np.testing.assert_array_equal(copy.weight, ONLINE.weight)


def test_polyak_tau_is_traced_and_sweepable_in_one_program():
    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def apply(tau):
        return PolyakUpdate(tau=tau)(ONLINE, TARGET, jnp.asarray(1)).bias

    np.testing.assert_allclose(apply(jnp.asarray(0.5)), [2.0, 1.0])
    np.testing.assert_allclose(apply(jnp.asarray(0.1)), [2.8, 2.6], rtol=1e-6)
    swept = jax.vmap(lambda tau: PolyakUpdate(tau=tau)(ONLINE, TARGET, jnp.asarray(1)).bias)(
        jnp.asarray([0.5, 1.0])
    )
    np.testing.assert_allclose(swept[0], [2.0, 1.0])
    np.testing.assert_allclose(swept[1], ONLINE.bias)
    assert PolyakUpdate(tau=0.5).tau.dtype == jnp.float32


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: HardUpdate(every=0), ValueError, "every"),
        (lambda: HardUpdate(every=2.5), TypeError, "every"),
        (lambda: PolyakUpdate(tau=0.0), ValueError, "tau"),
        (lambda: PolyakUpdate(tau=1.5), ValueError, "tau"),
        (lambda: PolyakUpdate(tau=float("nan")), ValueError, "tau"),
    ],
)
def test_bad_arguments_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()
