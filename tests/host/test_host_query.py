"""lerax.host.query: the round trip to the host, under jit, vmap and loops."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax import host

_names = itertools.count()


@pytest.fixture
def channel():
    name = f"test-query-{next(_names)}"
    calls = []

    def responder(rows, index):
        calls.append((jax.tree.map(np.array, rows), np.array(index)))
        x = rows["x"]
        member = index.sum(axis=1) if index.shape[1] else np.zeros(len(x))
        return {
            "y": x * 2 + 100 * member[:, None],
            "flag": x[:, 0] > 0,
            "small": np.full(len(x), -3, np.int8),
            "count": np.full(len(x), len(calls), np.uint32),
        }

    host.respond(name, responder)
    yield name, calls
    host.unrespond(name)


SHAPE = {
    "y": jax.ShapeDtypeStruct((3,), jnp.float32),
    "flag": jax.ShapeDtypeStruct((), jnp.bool_),
    "small": jax.ShapeDtypeStruct((), jnp.int8),
    "count": jax.ShapeDtypeStruct((), jnp.uint32),
}


def test_one_call_returns_the_reply_with_its_dtypes(channel):
    name, calls = channel
    out = jax.jit(lambda x: host.query(name, {"x": x}, SHAPE))(jnp.array([1.5, -2.0, 3.0]))
    np.testing.assert_array_equal(out["y"], [3.0, -4.0, 6.0])
    assert out["flag"].dtype == jnp.bool_ and bool(out["flag"])
    assert out["small"].dtype == jnp.int8 and int(out["small"]) == -3
    assert out["count"].dtype == jnp.uint32 and int(out["count"]) == 1
    ((rows, index),) = calls
    assert index.shape == (1, 0) and rows["x"].shape == (1, 3)


def test_vmap_is_one_host_call_with_member_indices(channel):
    name, calls = channel
    x = jnp.ones((2, 3, 3))
    out = jax.jit(jax.vmap(jax.vmap(lambda x: host.query(name, {"x": x}, SHAPE))))(x)
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0][1], [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]])
    # Row (i, j) got 2 + 100 * (i + j) back, in its own place.
    expected = 2 + 100 * (np.arange(2)[:, None] + np.arange(3)[None, :])
    np.testing.assert_array_equal(out["y"], np.broadcast_to(expected[..., None], (2, 3, 3)))
    assert out["count"].shape == (2, 3)


def test_replies_thread_through_a_scan_in_order(channel):
    name, calls = channel

    def body(x, _):
        out = host.query(name, {"x": x}, SHAPE)
        return out["y"] / 2 + 1, out["count"]

    _, counts = jax.jit(lambda x: jax.lax.scan(body, x, None, length=5))(jnp.zeros(3))
    np.testing.assert_array_equal(counts, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal([c[0]["x"][0, 0] for c in calls], [0, 1, 2, 3, 4])


def test_depth_limit_raises_with_the_callers_message(channel):
    name, _ = channel
    query = jax.jit(lambda x: host.query(name, {"x": x}, SHAPE, max_depth=1, depth_message="no"))
    jax.vmap(query)(jnp.ones((2, 3)))  # one axis is fine
    with pytest.raises(host.QueryDepthError, match="^no"):
        jax.vmap(jax.vmap(query))(jnp.ones((2, 2, 3)))


def test_missing_responder_and_failing_responder():
    with pytest.raises(ValueError, match="no responder"):
        host.query("test-query-nobody", {"x": jnp.ones(3)}, SHAPE)

    def broken(rows, index):
        raise OSError("host side broke")

    host.respond("test-query-broken", broken)
    try:
        with pytest.raises(Exception, match="host side broke"):
            jax.block_until_ready(host.query("test-query-broken", {"x": jnp.ones(3)}, SHAPE))
    finally:
        host.unrespond("test-query-broken")
