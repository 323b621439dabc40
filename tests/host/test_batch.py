"""`lerax.host.EventBuffer`: events wait on the device and cross in batches, lossless."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from lerax import host

_names = itertools.count()


def _channel(reply):
    """A fresh process-wide channel recording every crossing; replies `reply`."""
    name = f"test.batch.{next(_names)}"
    received = []

    def receive(rows, index):
        received.append(({k: np.array(v) for k, v in rows.items()}, np.array(index)))
        return reply

    host.register(name, receive)
    return name, received


def _event(i):
    return {
        "value": i * 0.5,
        "iteration": i,
        "flag": i % 2 == 0,
        "big": jnp.int32(2**30 + i),
    }


def _run(name, iterations, capacity, force_at_end=True):
    def body(buffer, i):
        buffer = buffer.append(_event(i))
        buffer, _ = buffer.flush(name, i)
        return buffer, None

    @jax.jit
    def program():
        buffer = host.EventBuffer.empty(capacity, 8)
        buffer, _ = jax.lax.scan(body, buffer, jnp.arange(1, iterations + 1))
        if force_at_end:
            buffer, _ = buffer.flush(name, iterations, force=True)
        return buffer

    out = program()
    jax.effects_barrier()
    return out


def _decoded(received):
    events = []
    for rows, _ in received:
        columns = host.decode_columns(rows["values"], rows["schema"])
        for r, count in enumerate(rows["count"]):
            for j in range(count):
                events.append({name: column[r, j].item() for name, column in columns.items()})
    return events


def test_every_event_crosses_once_in_order_with_exact_values():
    name, received = _channel(reply=7)  # the host asks for a crossing every 7 iterations
    buffer = _run(name, iterations=40, capacity=16)
    events = _decoded(received)
    assert events == [
        {"value": i * 0.5, "iteration": i, "flag": i % 2 == 0, "big": 2**30 + i}
        for i in range(1, 41)
    ]
    # The first crossing comes at iteration 1, then one every 7 iterations, and the
    # forced one at the end: 1, 8, 15, 22, 29, 36, end.
    assert [int(rows["count"][0]) for rows, _ in received] == [1, 7, 7, 7, 7, 7, 4]
    assert int(buffer.count) == 0


def test_a_full_buffer_crosses_even_when_the_host_asked_to_wait():
    name, received = _channel(reply=1000)
    _run(name, iterations=25, capacity=4)
    counts = [int(rows["count"][0]) for rows, _ in received]
    assert counts == [1, 4, 4, 4, 4, 4, 4]
    assert [e["iteration"] for e in _decoded(received)] == list(range(1, 26))


def test_nothing_crosses_when_nothing_is_due():
    name, received = _channel(reply=1000)
    _run(name, iterations=3, capacity=8, force_at_end=False)
    # Only the first iteration's event crossed; two wait in the buffer.
    assert [int(rows["count"][0]) for rows, _ in received] == [1]


def test_without_a_reply_the_buffer_waits_until_full():
    name, received = _channel(reply=None)
    _run(name, iterations=10, capacity=3, force_at_end=False)
    assert [int(rows["count"][0]) for rows, _ in received] == [1, 3, 3, 3]


def test_under_vmap_one_crossing_carries_every_member():
    name, received = _channel(reply=5)

    @jax.jit
    @jax.vmap
    def program(offset):
        def body(buffer, i):
            buffer = buffer.append({"x": offset + i}, when=i % 2 == 0)
            return buffer.flush(name, i)[0], None

        buffer = host.EventBuffer.empty(4, 2)
        buffer, _ = jax.lax.scan(body, buffer, jnp.arange(1, 13))
        return buffer.flush(name, 12, force=True)[0]

    program(jnp.arange(3) * 100)
    jax.effects_barrier()
    for _, index in received:
        assert index.tolist() == [[0], [1], [2]]
    per_member = {m: [] for m in range(3)}
    for rows, index in received:
        columns = host.decode_columns(rows["values"], rows["schema"])
        for r, count in enumerate(rows["count"]):
            per_member[int(index[r, 0])] += columns["x"][r, :count].tolist()
    assert per_member == {m: [100 * m + i for i in range(2, 13, 2)] for m in range(3)}


def test_layout_is_encodes_schema_and_keeps_the_order():
    buffer = host.EventBuffer.empty(4, 8)
    event = {"b": jnp.float32(1.5), "a": jnp.int32(7)}
    _, schema = buffer.encode(event)
    shapes = {k: jax.ShapeDtypeStruct((), v.dtype) for k, v in event.items()}
    assert buffer.layout(event) == buffer.layout(shapes) == int(schema)
    swapped = {"a": jnp.int32(7), "b": jnp.float32(1.5)}
    assert buffer.layout(swapped) != int(schema), "the column order is part of the layout"
    decoded = host.decode_columns(np.asarray(buffer.append(event).values)[None], schema)
    assert list(decoded) == ["b", "a"]
    assert decoded["b"][0, 0] == 1.5 and decoded["a"][0, 0] == 7


def test_append_row_when_false_changes_nothing():
    buffer = host.EventBuffer.empty(3, 4).append({"x": jnp.float32(2.0)})
    row, schema = buffer.encode({"x": jnp.float32(9.0)})
    kept = buffer.append_row(row, schema, when=False)
    np.testing.assert_array_equal(np.asarray(kept.values), np.asarray(buffer.values))
    assert int(kept.count) == 1
    grown = buffer.append_row(row, schema, when=True)
    assert int(grown.count) == 2
    np.testing.assert_array_equal(np.asarray(grown.values)[1], np.asarray(row))
    np.testing.assert_array_equal(np.asarray(grown.values)[0], np.asarray(buffer.values)[0])


def test_flush_due_says_when_flush_would_cross():
    empty = host.EventBuffer.empty(2, 4)  # next_flush starts at iteration 1
    assert not bool(empty.flush_due(5, force=True)), "nothing waits: never due"
    one = empty.append({"x": jnp.float32(1.0)})
    assert not bool(one.flush_due(0)), "the host's interval has not passed"
    assert bool(one.flush_due(1)) and bool(one.flush_due(0, force=True))
    full = one.append({"x": jnp.float32(2.0)})
    assert bool(full.flush_due(0)), "a full buffer crosses whatever the interval"
    # `flush` crosses exactly when `flush_due` says so.
    name, received = _channel(reply=3)
    for buffer, iteration in ((one, 0), (one, 1), (full, 0)):
        before = len(received)
        flushed, _ = jax.jit(lambda b, i: b.flush(name, i))(buffer, iteration)
        jax.effects_barrier()
        assert (len(received) > before) == bool(buffer.flush_due(iteration))
        assert int(flushed.count) == (0 if buffer.flush_due(iteration) else int(buffer.count))
