"""`lerax.host.send`: one host call per event, rows per vmapped member, gated."""

import uuid

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax import host


@pytest.fixture
def channel():
    name = f"test.crossing.{uuid.uuid4().hex}"
    received = []
    host.register(name, lambda rows, index: received.append((rows, index)))
    yield name, received
    host.unregister(name)


def test_plain_send_delivers_payload_once_with_empty_index(channel):
    name, received = channel
    payload = {"a": jnp.asarray(1.25), "b": jnp.arange(3, dtype=jnp.int32)}
    jax.block_until_ready(jax.jit(lambda p: host.send(name, p))(payload))
    jax.effects_barrier()
    assert host.host_calls(name) == 1 and len(received) == 1
    rows, index = received[0]
    assert index.shape == (1, 0)
    np.testing.assert_array_equal(rows["a"], [1.25])
    np.testing.assert_array_equal(rows["b"], [[0, 1, 2]])


def test_vmapped_send_is_one_call_with_one_row_per_due_member(channel):
    name, received = channel

    def one(x):
        return host.send(name, {"x": x, "sq": x * x}, due=x != 2.0)

    jax.block_until_ready(jax.jit(jax.vmap(one))(jnp.arange(4.0)))
    jax.effects_barrier()
    assert host.host_calls(name) == 1
    rows, index = received[0]
    np.testing.assert_array_equal(rows["x"], [0.0, 1.0, 3.0])  # member 2 not due
    np.testing.assert_array_equal(rows["sq"], [0.0, 1.0, 9.0])
    np.testing.assert_array_equal(index, [[0], [1], [3]])


def test_nested_vmap_tags_rows_with_index_tuples(channel):
    name, received = channel
    grid = jnp.arange(6.0).reshape(2, 3)
    jax.block_until_ready(jax.jit(jax.vmap(jax.vmap(lambda x: host.send(name, x))))(grid))
    jax.effects_barrier()
    rows, index = received[0]
    assert host.host_calls(name) == 1
    np.testing.assert_array_equal(rows, np.arange(6.0))
    np.testing.assert_array_equal(index, [[i, j] for i in range(2) for j in range(3)])


@pytest.mark.parametrize("size", [4, 4096], ids=["packed before the gate", "packed when due"])
def test_small_and_large_payloads_arrive_bit_exact_with_their_keys(channel, size):
    from lerax.host._crossing import PACK_BEFORE_GATE_BYTES

    name, received = channel

    def one(x, key):
        payload = {"w": jnp.full((size,), x), "key": key, "flag": x > 1.0}
        return host.send(name, payload, due=x != 0.0)

    keys = jax.random.split(jax.random.key(3), 3)
    xs = jnp.asarray([0.0, 1.5, 2.5])
    assert (size * 4 * 3 <= PACK_BEFORE_GATE_BYTES) == (size == 4)  # both paths run
    jax.block_until_ready(jax.jit(jax.vmap(one))(xs, keys))
    jax.effects_barrier()
    assert host.host_calls(name) == 1
    rows, index = received[0]
    np.testing.assert_array_equal(index, [[1], [2]])
    np.testing.assert_array_equal(rows["w"], np.repeat([[1.5], [2.5]], size, axis=1))
    np.testing.assert_array_equal(rows["key"], jax.random.key_data(keys)[1:])
    np.testing.assert_array_equal(rows["flag"], [True, True])


def test_nothing_crosses_when_no_row_is_due(channel):
    name, received = channel
    jax.block_until_ready(
        jax.jit(jax.vmap(lambda x: host.send(name, x, due=x < 0)))(jnp.arange(3.0))
    )
    jax.effects_barrier()
    assert host.host_calls(name) == 0 and received == []


def test_compute_runs_only_for_the_crossing_and_its_output_crosses(channel):
    name, received = channel
    send = jax.jit(lambda x, due: host.send(name, x, due=due, compute=lambda p: p * 10))
    send(jnp.asarray(2.0), False)
    send(jnp.asarray(3.0), True)
    jax.effects_barrier()
    assert len(received) == 1
    np.testing.assert_array_equal(received[0][0], [30.0])


def test_failing_receiver_is_reported_once_and_disabled(capsys):
    name = f"test.crossing.fail.{uuid.uuid4().hex}"
    calls = []

    def broken(rows, index):
        calls.append(1)
        raise OSError("disk full")

    host.register(name, broken)
    send = jax.jit(lambda x: host.send(name, x))
    for i in range(3):
        jax.block_until_ready(send(jnp.asarray(float(i))))
    jax.effects_barrier()
    assert calls == [1]
    assert host.failure(name) == "OSError: disk full"
    assert capsys.readouterr().err.count("disabled") == 1
    host.unregister(name)


def test_responsive_switching_lowers_and_restores_the_interval():
    import sys

    before = sys.getswitchinterval()
    with host.responsive_switching(1e-4):
        assert sys.getswitchinterval() == pytest.approx(min(1e-4, before))
        with host.responsive_switching(1e-4):
            assert sys.getswitchinterval() == pytest.approx(min(1e-4, before))
        assert sys.getswitchinterval() == pytest.approx(min(1e-4, before))
    assert sys.getswitchinterval() == before


def test_receiver_int_reply_comes_back_to_the_device_and_none_gives_zero():
    name = f"test.crossing.reply.{uuid.uuid4().hex}"
    host.register(name, lambda rows, index: int(rows.sum()) * 2)
    send = jax.jit(jax.vmap(lambda x: host.send(name, x)))
    np.testing.assert_array_equal(send(jnp.asarray([1, 2, 3], jnp.int32)), 12)
    host.register(name, lambda rows, index: None)
    np.testing.assert_array_equal(send(jnp.asarray([1, 2, 3], jnp.int32)), [0, 0, 0])
    host.unregister(name)
