"""`python_call`: the host call under every crossing, on its fast path and on io_callback."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.host import _python_call

INT = jax.ShapeDtypeStruct((), jnp.int32)


@pytest.fixture(params=["direct lowering", "io_callback fallback"])
def path(request, monkeypatch):
    if request.param == "io_callback fallback":
        monkeypatch.setattr(_python_call, "_primitive", None)
    elif _python_call._primitive is None:
        pytest.fail("this JAX lacks the direct lowering that lerax.host uses")
    return request.param


def test_the_host_function_gets_numpy_and_its_reply_comes_back(path):
    seen = []

    def host(x, y):
        seen.append((type(x), x.copy(), y.copy()))
        return np.int32(x.sum() + 10 * y)

    @jax.jit
    def program(x):
        return _python_call.python_call(host, INT, x, jnp.int32(2)) + 1

    assert int(program(jnp.arange(4, dtype=jnp.float32))) == 6 + 20 + 1
    ((kind, x, y),) = seen
    assert (
        kind is np.ndarray
        if path == "direct lowering"
        else issubclass(kind, np.ndarray | jax.Array)
    )
    np.testing.assert_array_equal(x, [0, 1, 2, 3])
    assert y == 2


def test_calls_inside_loops_and_cond_run_in_order_and_are_never_dropped(path):
    calls = []

    def record(i):
        calls.append(int(i))
        return np.int32(0)

    @jax.jit
    def program(n):
        def body(i, acc):
            ack = jax.lax.cond(
                i % 2 == 0,
                lambda: _python_call.python_call(record, INT, i),
                lambda: jnp.int32(0),
            )
            return acc + ack

        jax.lax.fori_loop(0, n, body, jnp.int32(0))
        return n  # the replies are unused: the calls must still happen

    program(7)
    assert calls == [0, 2, 4, 6]


def test_outside_jit_the_function_is_called_at_once(path):
    out = _python_call.python_call(
        lambda x: np.float32(x * 2), jax.ShapeDtypeStruct((), jnp.float32), jnp.float32(3)
    )
    assert float(out) == 6.0


def test_the_direct_lowering_skips_io_callbacks_device_put():
    if _python_call._primitive is None:
        pytest.fail("this JAX lacks the direct lowering that lerax.host uses")
    jaxpr = jax.make_jaxpr(lambda x: _python_call.python_call(lambda a: np.int32(0), INT, x))
    (equation,) = jaxpr(jnp.zeros(3)).jaxpr.eqns
    assert equation.primitive.name == "lerax_python_call"
