"""`lerax.host._packing`: one byte buffer per crossing, values back bit for bit."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.host._packing import pack, unpack


def _tree():
    return {
        "f32": jnp.asarray([1.5, -2.25, jnp.nan, jnp.inf], jnp.float32),
        "i32": jnp.arange(6, dtype=jnp.int32).reshape(2, 3) - 3,
        "u8": jnp.asarray([[0, 7, 255]], jnp.uint8),
        "bool": jnp.asarray([True, False, True]),
        "scalar": jnp.asarray(3.0e-7, jnp.float32),
        "empty": jnp.zeros((0, 4), jnp.float32),
        "nested": (jnp.asarray([-1], jnp.int8), jnp.asarray(2**30, jnp.int32)),
    }


def test_round_trip_is_bitwise_and_keeps_structure_shapes_dtypes():
    tree = _tree()
    buffer, layout = jax.jit(lambda t: pack(t)[0])(tree), pack(tree)[1]
    assert buffer.dtype == jnp.uint8 and buffer.ndim == 1
    back = unpack(np.asarray(buffer), layout)
    assert jax.tree.structure(back) == jax.tree.structure(tree)
    for got, want in zip(jax.tree.leaves(back), jax.tree.leaves(tree), strict=True):
        want = np.asarray(want)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert got.tobytes() == want.tobytes()  # NaN and inf included, bit for bit


def test_leaves_of_one_dtype_are_contiguous_and_groups_start_aligned():
    tree = _tree()
    _, layout = pack(tree)
    groups: dict[str, list[tuple[int, int]]] = {}
    for leaf in layout.leaves:
        size = int(np.prod(leaf.shape)) * leaf.dtype.itemsize
        assert leaf.offset % leaf.dtype.itemsize == 0  # host views are aligned
        key = np.dtype(np.uint8 if leaf.dtype == np.bool_ else leaf.dtype).str  # bools: bytes
        groups.setdefault(key, []).append((leaf.offset, size))
    assert len(groups) == 4  # f32, i32, u8 (with the bools), i8
    total = 0
    for spans in groups.values():
        start = spans[0][0]
        assert start % 8 == 0
        for (offset, size), (next_offset, _) in zip(spans[:-1], spans[1:], strict=True):
            assert next_offset == offset + size  # contiguous within the group
        used = spans[-1][0] + spans[-1][1] - start
        total += -(-used // 8) * 8
    assert layout.nbytes == total


def test_bit_casts_are_one_per_dtype_group_not_one_per_leaf():
    """Thirty float scalars and an int: the compiled program bit-casts to bytes once per
    dtype group (2), not once per leaf (31)."""
    tree = {f"s{i}": jnp.float32(i) for i in range(30)} | {"n": jnp.int32(1)}

    def f(x):
        return pack(jax.tree.map(lambda v: v * x.astype(v.dtype), tree))[0]

    text = jax.jit(f).lower(jnp.float32(2.0)).as_text()
    assert text.count("bitcast_convert") == 2


def test_prng_keys_cross_as_their_key_data():
    key = jr.key(42)
    buffer, layout = pack({"k": key})
    back = unpack(np.asarray(buffer), layout)
    np.testing.assert_array_equal(back["k"], np.asarray(jr.key_data(key)))


def test_wrong_buffer_size_is_refused():
    buffer, layout = pack({"x": jnp.ones(3)})
    with pytest.raises(ValueError, match="has 4 bytes, the layout expects 16"):
        unpack(np.zeros(4, np.uint8), layout)
    assert np.asarray(buffer).size == 16
