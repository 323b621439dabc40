"""ReplayBuffer: layout, circular writes, uniform sampling, jit and vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.algorithm import ReplayBuffer
from lerax.space import Box, Discrete

OBS = Box(-1.0, 1.0, shape=(3,))


def rows(start: int, n: int):
    """`n` transitions whose every field encodes its id `start + i`."""
    ids = jnp.arange(start, start + n, dtype=jnp.float32)
    return (
        jnp.stack([ids, ids + 0.5, -ids], axis=1),  # observation
        (jnp.arange(start, start + n) % 4).astype(jnp.int32),  # action
        ids,  # reward
        jnp.stack([ids + 1, ids, ids], axis=1),  # next observation
        (jnp.arange(start, start + n) % 3) == 0,  # terminated
    )


def test_create_shapes_and_dtypes_follow_the_spaces():
    buffer = ReplayBuffer.create(7, OBS, Discrete(4))
    assert buffer.capacity == 7
    assert buffer.observations.shape == (7, 3) and buffer.observations.dtype == jnp.float32
    assert buffer.next_observations.shape == (7, 3)
    assert buffer.actions.shape == (7,) and buffer.actions.dtype == jnp.int32
    assert buffer.rewards.shape == (7,) and buffer.terminated.dtype == jnp.bool_
    assert int(buffer.position) == 0 and int(buffer.size) == 0
    box_actions = ReplayBuffer.create(5, OBS, Box(-2.0, 2.0, shape=(2,)))
    assert box_actions.actions.shape == (5, 2) and box_actions.actions.dtype == jnp.float32


def test_add_writes_in_order_and_wraps_around():
    buffer = ReplayBuffer.create(5, OBS, Discrete(4))
    buffer = buffer.add(*rows(0, 3))
    assert int(buffer.position) == 3 and int(buffer.size) == 3
    np.testing.assert_array_equal(buffer.rewards, [0, 1, 2, 0, 0])
    buffer = buffer.add(*rows(3, 3))  # slots 3, 4, then 0 (overwrites id 0)
    assert int(buffer.position) == 1 and int(buffer.size) == 5
    np.testing.assert_array_equal(buffer.rewards, [5, 1, 2, 3, 4])
    obs, action, _, next_obs, terminated = rows(0, 6)
    order = np.array([5, 1, 2, 3, 4])
    np.testing.assert_array_equal(buffer.observations, np.asarray(obs)[order])
    np.testing.assert_array_equal(buffer.next_observations, np.asarray(next_obs)[order])
    np.testing.assert_array_equal(buffer.actions, np.asarray(action)[order])
    np.testing.assert_array_equal(buffer.terminated, np.asarray(terminated)[order])
    buffer = buffer.add(*rows(6, 5))  # a full lap: size stays 5, position returns to 1
    assert int(buffer.position) == 1 and int(buffer.size) == 5
    np.testing.assert_array_equal(buffer.rewards, [10, 6, 7, 8, 9])


def test_add_casts_to_the_buffer_dtypes():
    buffer = ReplayBuffer.create(4, OBS, Discrete(4))
    obs, action, reward, next_obs, terminated = rows(0, 2)
    buffer = buffer.add(
        obs.astype(jnp.float16), action.astype(jnp.int8), reward, next_obs, terminated
    )
    assert buffer.observations.dtype == jnp.float32 and buffer.actions.dtype == jnp.int32
    np.testing.assert_array_equal(buffer.actions[:2], [0, 1])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer.create(0, OBS, Discrete(2))
    with pytest.raises(TypeError, match="capacity"):
        ReplayBuffer.create(2.0, OBS, Discrete(2))
    buffer = ReplayBuffer.create(2, OBS, Discrete(4))
    with pytest.raises(ValueError, match="capacity 2"):
        buffer.add(*rows(0, 3))
    obs, action, reward, next_obs, terminated = rows(0, 2)
    with pytest.raises(ValueError, match="observation"):
        buffer.add(obs[:, :2], action, reward, next_obs, terminated)


def test_sample_is_uniform_over_the_filled_slots_only():
    buffer = ReplayBuffer.create(10, OBS, Discrete(4)).add(*rows(0, 4))
    batch = jax.jit(lambda b, k: b.sample(40_000, key=k))(buffer, jr.key(0))
    ids = np.asarray(batch.reward).astype(int)
    counts = np.bincount(ids, minlength=10)
    assert counts[4:].sum() == 0  # never an empty slot
    # Each of the 4 ids has probability 1/4: 10000 expected, std ~87.
    assert np.all(np.abs(counts[:4] - 10_000) < 500), counts
    # Rows stay together: every field of a sampled row belongs to the same transition.
    np.testing.assert_array_equal(batch.observation[:, 0], batch.reward)
    np.testing.assert_array_equal(batch.next_observation[:, 0], batch.reward + 1)
    np.testing.assert_array_equal(batch.action, ids % 4)
    np.testing.assert_array_equal(batch.terminated, ids % 3 == 0)


def test_sample_after_wraparound_covers_every_slot_with_replacement():
    buffer = ReplayBuffer.create(6, OBS, Discrete(4)).add(*rows(0, 4)).add(*rows(4, 4))
    batch = buffer.sample(60_000, key=jr.key(1))
    counts = np.bincount(np.asarray(batch.reward).astype(int), minlength=8)
    assert counts[0] == counts[1] == 0  # overwritten
    assert np.all(np.abs(counts[2:] - 10_000) < 500), counts
    small = buffer.sample(20, key=jr.key(2))  # more draws than distinct rows: replacement
    assert small.reward.shape == (20,)


def test_sample_cost_does_not_scan_the_buffer():
    """O(batch): the jaxpr of `sample` holds one randint of `batch_size` indices and
    gathers; no operation produces a capacity-sized array (no permutation, no sort)."""
    buffer = ReplayBuffer.create(100_000, OBS, Discrete(4))
    jaxpr = jax.make_jaxpr(lambda b, k: b.sample(32, key=k))(buffer, jr.key(0))
    for eqn in jaxpr.jaxpr.eqns:
        for out in eqn.outvars:
            assert 100_000 not in getattr(out.aval, "shape", ()), eqn


def test_vmap_over_members_each_with_its_own_buffer():
    def run(offset, key):
        obs, action, reward, next_obs, terminated = rows(0, 3)
        buffer = ReplayBuffer.create(4, OBS, Discrete(4))
        buffer = buffer.add(obs, action, reward + offset, next_obs, terminated)
        buffer = buffer.add(
            obs[:2], action[:2], reward[:2] + offset + 10, next_obs[:2], terminated[:2]
        )
        return buffer, buffer.sample(1000, key=key)

    offsets = jnp.asarray([0.0, 100.0])
    buffers, batches = jax.vmap(run)(offsets, jr.split(jr.key(3), 2))
    np.testing.assert_array_equal(buffers.rewards, [[11, 1, 2, 10], [111, 101, 102, 110]])
    np.testing.assert_array_equal(buffers.position, [1, 1])
    np.testing.assert_array_equal(buffers.size, [4, 4])
    assert set(np.asarray(batches.reward[0]).tolist()) == {11.0, 1.0, 2.0, 10.0}
    assert set(np.asarray(batches.reward[1]).tolist()) == {111.0, 101.0, 102.0, 110.0}
    single_buffer, single_batch = run(offsets[1], jr.split(jr.key(3), 2)[1])
    np.testing.assert_array_equal(single_batch.reward, batches.reward[1])
