"""Batched crossings: events wait in a small device-side buffer and cross together.

One host call inside the compiled program is costly on XLA:CPU (the thread pool
spins and wakes around it; a device sync on a GPU), so crossing once per iteration
slows a fast workload noticeably (measured in `benchmarks/README.md`). Instead every
iteration appends its event (a flat dict of scalars) to an `EventBuffer` carried in
the callback's state, and the buffer crosses:

* when the host asked for it: each crossing's reply is the number of iterations to
  run before the next one (`lerax.host.Pace`, a few crossings a second);
* when it is full;
* when the caller forces it (training end, early stop included).

Nothing is lost: every appended event reaches the host, in order, with its own
values. Under `vmap` one crossing carries every member's buffer (rows), each with
its own count.

Layout: one int32 matrix `(capacity, width)`; float scalars are stored as their
float32 bits, so every value comes back exactly. (Not the other way round: an integer
bit-cast to float32 is a denormal, which XLA may flush to zero when it moves the
buffer, e.g. across the devices of a sharded program.) The column names and dtypes (the
"schema") are known when the program is traced; they are interned in a
process-wide table of layouts (bounded by the number of distinct event layouts, like
a compilation cache) and the buffer carries the schema's number, so any hook can
flush it and the host decodes it (`decode_columns`).
"""

from __future__ import annotations

import threading
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Int

from ._crossing import send

_lock = threading.Lock()
_schemas: list[tuple[tuple[str, str], ...]] = []
_schema_ids: dict[tuple[tuple[str, str], ...], int] = {}


def _intern(schema: tuple[tuple[str, str], ...]) -> int:
    with _lock:
        if schema not in _schema_ids:
            _schema_ids[schema] = len(_schemas)
            _schemas.append(schema)
        return _schema_ids[schema]


class EventBuffer(eqx.Module):
    """Per-iteration events waiting on the device to cross in one host call.

    Attributes:
        values: The events, one row each (int32; floats as their float32 bits).
        count: How many rows hold events.
        next_flush: The iteration at or after which the host wants the next crossing.
        schema: Number of the events' layout (see `decode_columns`); -1 before the
            first event.
    """

    values: Int[Array, "capacity width"]
    count: Int[Array, ""]
    next_flush: Int[Array, ""]
    schema: Int[Array, ""]

    @classmethod
    def empty(cls, capacity: int, width: int) -> EventBuffer:
        """A buffer for up to `capacity` events of up to `width` scalars each."""
        if capacity < 1 or width < 1:
            raise ValueError(f"EventBuffer needs capacity and width >= 1, got {capacity}, {width}.")
        return cls(
            values=jnp.zeros((capacity, width), jnp.int32),
            count=jnp.zeros((), jnp.int32),
            next_flush=jnp.ones((), jnp.int32),
            schema=jnp.asarray(-1, jnp.int32),
        )

    @property
    def capacity(self) -> int:
        return self.values.shape[0]

    def layout(self, event: dict[str, Any]) -> int:
        """The number of `event`'s layout (its names and dtypes), as `encode` gives it;
        `event`'s values may be arrays or `jax.ShapeDtypeStruct`s (`jax.eval_shape`),
        so a hook can know the layout of an event it computes only when due.

        Raises:
            ValueError: at trace time, if the event has more scalars than the width.
        """
        width = self.values.shape[1]
        if len(event) > width:
            raise ValueError(
                f"an event of {len(event)} scalars does not fit a buffer of width {width}."
            )
        return _intern(tuple((n, str(x.dtype)) for n, x in event.items()))

    def encode(self, event: dict[str, ArrayLike]) -> tuple[Int[Array, " width"], Int[Array, ""]]:
        """`event` (scalars) as one row of this buffer and its layout's number.

        Raises:
            ValueError: at trace time, if the event has more scalars than the width.
        """
        leaves = {n: jnp.asarray(x) for n, x in event.items()}
        schema = self.layout(leaves)
        row = jnp.stack([_as_bits(x) for x in leaves.values()])
        return jnp.pad(row, (0, self.values.shape[1] - len(leaves))), jnp.asarray(schema, jnp.int32)

    def append(self, event: dict[str, ArrayLike], *, when: Bool[ArrayLike, ""] = True):
        """This buffer with `event` (scalars) appended when `when` holds.

        Raises:
            ValueError: at trace time, if the event has more scalars than the width.
        """
        row, schema = self.encode(event)
        return self.append_row(row, schema, when=when)

    def append_row(
        self,
        row: Int[Array, " width"],
        schema: Int[ArrayLike, ""],
        *,
        when: Bool[ArrayLike, ""] = True,
    ) -> EventBuffer:
        """This buffer with a row made by `encode` appended when `when` holds."""
        when = jnp.asarray(when, bool) & (self.count < self.capacity)
        slot = jnp.minimum(self.count, self.capacity - 1)
        values = self.values.at[slot].set(jnp.where(when, row, self.values[slot]))
        return EventBuffer(
            values=values,
            count=self.count + when.astype(jnp.int32),
            next_flush=self.next_flush,
            schema=jnp.asarray(schema, jnp.int32),
        )

    def restart(self, iteration: Int[ArrayLike, ""]) -> EventBuffer:
        """This buffer emptied, with its next crossing due at once (at `iteration`):
        for the start of a training call.

        A state saved in the middle of a run (a checkpoint) can hold events that were
        still waiting; the run that saved it crossed them afterwards, so a run resumed
        from that state must not send them again. (A training call that ended left
        its buffer empty: its end forced a crossing.)
        """
        return EventBuffer(
            values=self.values,
            count=jnp.zeros_like(self.count),
            next_flush=jnp.asarray(iteration, jnp.int32),
            schema=self.schema,
        )

    def flush_due(
        self, iteration: Int[ArrayLike, ""], *, force: Bool[ArrayLike, ""] = False
    ) -> Bool[Array, ""]:
        """Whether `flush` at `iteration` would cross: some event waits and the host's
        interval passed, the buffer is full, or `force`."""
        return (self.count > 0) & (
            jnp.asarray(force, bool)
            | (jnp.asarray(iteration, jnp.int32) >= self.next_flush)
            | (self.count >= self.capacity)
        )

    def flush(
        self,
        channel: str,
        iteration: Int[ArrayLike, ""],
        *,
        force: Bool[ArrayLike, ""] = False,
        extra: dict[str, Array] | None = None,
    ) -> tuple[EventBuffer, Int[Array, ""]]:
        """Cross the buffered events if the host's interval passed, the buffer is full
        or `force`; otherwise do nothing (no host call).

        The receiver of `channel` gets rows `{"values", "count", "schema", **extra}`
        (decode them with `decode_columns`) and should reply with the number of
        iterations to run before the next crossing (`Pace`); a reply of 0 (no
        receiver, or a failed one) waits until the buffer is full.

        Args:
            channel: The channel (as for `send`).
            iteration: The iteration just completed.
            force: Cross now if any event is waiting.
            extra: More scalars to cross with the events (e.g. the run's totals).

        Returns:
            `(buffer, ack)`: the emptied (or unchanged) buffer and the host's reply.
        """
        iteration = jnp.asarray(iteration, jnp.int32)
        due = self.flush_due(iteration, force=force)
        payload = {"values": self.values, "count": self.count, "schema": self.schema}
        reply = send(channel, {**payload, **(extra or {})}, due=due)
        wait = jnp.where(reply > 0, reply, self.capacity)
        return (
            EventBuffer(
                values=self.values,
                count=jnp.where(due, 0, self.count),
                next_flush=jnp.where(due, iteration + wait, self.next_flush),
                schema=self.schema,
            ),
            reply,
        )


def _as_bits(x: Array) -> Int[Array, ""]:
    if jnp.issubdtype(x.dtype, jnp.floating):
        return jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.int32)
    return x.astype(jnp.int32)


def decode_columns(values: np.ndarray, schema: np.ndarray | int) -> dict[str, np.ndarray]:
    """The columns of crossed event buffers, by name (host side).

    Args:
        values: The buffers' `values`, `(..., capacity, width)` (rows of a crossing
            stacked in front; every row of one program has the same schema).
        schema: The buffers' `schema` number (one, or one per row).

    Returns:
        Name -> array `(..., capacity)` of float32, int32 or bool; only the first
        `count` entries of each row hold events.
    """
    number = int(np.asarray(schema).reshape(-1)[0])
    if number < 0:
        return {}
    with _lock:
        layout = _schemas[number]
    bits = np.ascontiguousarray(np.asarray(values, np.int32)[..., : len(layout)])
    values = bits.view(np.float32)
    out = {}
    for j, (name, dtype) in enumerate(layout):
        if dtype.startswith("float"):
            out[name] = values[..., j]
        elif dtype == "bool":
            out[name] = bits[..., j] != 0
        else:
            out[name] = bits[..., j]
    return out
