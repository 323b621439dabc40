"""lerax.checkpoint: save/load round trips, templates, atomicity under SIGKILL."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.algorithm import PPO
from lerax.callback import EvalCallback
from lerax.checkpoint import BufferNotSaved, CheckpointError, load, read_metadata, save
from lerax.checkpoint._format import ARRAYS_FILE, leaf_key
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

ROOT = Path(__file__).resolve().parents[2]
ENV = CartPole()
ALGO = PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)


def _init(hidden=(64, 64), activation=jnp.tanh):
    policy = MLPActorCriticPolicy(env=ENV, key=jr.key(0), hidden=hidden, activation=activation)
    return ALGO.init(ENV, policy, 6 * 32, key=jr.key(1))


def _template(**kwargs):
    """The shapes and structure of `_init(**kwargs)`, traced but never compiled."""
    return jax.eval_shape(lambda: _init(**kwargs))


@pytest.fixture(scope="module")
def state():
    return _init()


def assert_same_leaves(a, b):
    """Same structure, and every leaf bitwise equal with the same dtype and weak type."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        if not eqx.is_array(x):
            assert x == y
            continue
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            assert jnp.issubdtype(y.dtype, jax.dtypes.prng_key)
            assert jax.random.key_impl(x) == jax.random.key_impl(y)
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert x.dtype == y.dtype and np.shape(x) == np.shape(y)
        assert getattr(x, "weak_type", False) == getattr(y, "weak_type", False)
        assert np.array_equal(np.asarray(x), np.asarray(y))


def test_train_state_round_trip_without_template(tmp_path, state):
    save(tmp_path / "ck", state)
    loaded = load(tmp_path / "ck")
    assert type(loaded) is type(state)
    assert_same_leaves(loaded, state)
    assert jnp.issubdtype(loaded.key.dtype, jax.dtypes.prng_key)
    assert loaded.policy.actor.activation is jnp.tanh
    meta = read_metadata(tmp_path / "ck")
    assert meta["iteration"] == 0 and meta["num_timesteps"] == 0
    paths = {leaf["path"]: leaf for leaf in meta["leaves"]}
    assert paths[".policy.actor.layers[0].kernel"]["shape"] == [4, 64]
    assert paths[".key"]["dtype"] == "key<threefry2x32>"
    assert sorted(os.listdir(tmp_path)) == ["ck"]
    assert sorted(os.listdir(tmp_path / "ck")) == ["checkpoint.json", "checkpoint.npz"]


class Odd(eqx.Module):
    bf16: jax.Array
    weak: jax.Array
    weak_scalar: jax.Array
    small: jax.Array
    flags: jax.Array
    host: np.ndarray
    keys: jax.Array
    rbg: jax.Array
    scale: float
    name: str = eqx.field(static=True)


def test_dtypes_weak_types_keys_and_python_leaves(tmp_path):
    odd = Odd(
        bf16=jnp.arange(6, dtype=jnp.bfloat16).reshape(2, 3) / 7,
        weak=jnp.broadcast_to(jnp.asarray(0.1), (3,)),  # weakly typed float32 stays weak
        weak_scalar=jnp.asarray(7),
        small=jnp.asarray([-3, 5], jnp.int8),
        flags=jnp.asarray([True, False]),
        host=np.arange(4.0),
        keys=jr.split(jr.key(3), 4),
        rbg=jr.key(5, impl="rbg"),
        scale=2.5,
        name="odd",
    )
    assert odd.weak.weak_type and odd.weak_scalar.weak_type
    save(tmp_path / "odd", odd)
    with pytest.raises(CheckpointError, match=r"is `.*test_checkpoint:Odd`, which is not a lerax"):
        load(tmp_path / "odd")  # a class of the user's loads only when the user names it
    loaded = load(tmp_path / "odd", like=odd)
    assert loaded.name == "odd" and loaded.scale == 2.5
    assert loaded.weak.weak_type and loaded.weak_scalar.weak_type and not loaded.small.weak_type
    assert jax.random.key_impl(loaded.rbg) == jax.random.key_impl(odd.rbg)
    assert type(loaded.host) is np.ndarray and loaded.host.dtype == np.float64
    assert_same_leaves(loaded, odd)


def test_overwrite_in_place_and_stale_temporaries_removed(tmp_path):
    target = tmp_path / "ck"
    save(target, {"v": jnp.asarray(1)})
    (tmp_path / ".ck.tmp-stale").mkdir()  # left by a killed writer
    save(target, {"v": jnp.asarray(2)})
    assert int(load(target)["v"]) == 2
    assert sorted(os.listdir(tmp_path)) == ["ck"]


def test_like_checks_structure_shapes_and_static_configuration(tmp_path, state):
    save(tmp_path / "ck", state)
    assert_same_leaves(load(tmp_path / "ck", like=state), state)
    assert_same_leaves(load(tmp_path / "ck", like=jax.eval_shape(lambda: state)), state)
    with pytest.raises(
        CheckpointError,
        match=r"at `\.policy\.actor\.layers\[0\]\.kernel`: the file has float32\[4, 64\], "
        r"`like` has float32\[4, 32\]",
    ):
        load(tmp_path / "ck", like=_template(hidden=(32, 32)))
    with pytest.raises(
        CheckpointError,
        match=r"at `\.policy\.actor\.activation`: the file has tanh, `like` has relu",
    ):
        load(tmp_path / "ck", like=_template(activation=jax.nn.relu))
    with pytest.raises(CheckpointError, match=r"at `\.`: the file has TrainState, `like` has \{"):
        load(tmp_path / "ck", like={"policy": state.policy})


def test_buffer_not_saved_is_taken_from_the_template(tmp_path, state):
    marked = dataclasses.replace(state, algorithm_state=BufferNotSaved("ReplayBuffer"))
    save(tmp_path / "ck", marked)
    assert load(tmp_path / "ck").algorithm_state == BufferNotSaved("ReplayBuffer")
    assert_same_leaves(load(tmp_path / "ck", like=state), state)


def test_errors_are_clear_and_leave_nothing_behind(tmp_path):
    with pytest.raises(CheckpointError, match=r"cannot load '.*missing': no checkpoint there"):
        load(tmp_path / "missing")

    class Local(eqx.Module):
        fn: object = eqx.field(static=True)
        x: jax.Array

    with pytest.raises(TypeError, match=r"cannot record `\.fn`"):
        save(tmp_path / "bad", Local(fn=lambda v: v, x=jnp.zeros(2)))
    with pytest.raises(TypeError, match=r"leaf \['o'\] has dtype object; only numeric"):
        save(tmp_path / "bad", {"o": np.array([None, 1], dtype=object)})
    with pytest.raises(TypeError, match=r"cannot record `\['x'\]\[0\]`, a set"):
        save(tmp_path / "bad", {"x": [{1, 2}]})
    assert os.listdir(tmp_path) == []


# A writer that saves version 0, then stalls (deterministically) in the middle of saving
# version 1 at the point named by argv[2], and is killed there by the test.
_WRITER = """
import os, sys, time
import numpy as np, jax.numpy as jnp, jax.random as jr
from lerax.checkpoint import save

target, stall_at = sys.argv[1], sys.argv[2]
state = lambda v: {"big": np.full(4_000_000, v, np.float32), "v": jnp.asarray(v), "key": jr.key(v)}
save(target, state(0))
real_fsync, real_replace, calls = os.fsync, os.replace, []

def stall():
    print("stalled", flush=True)
    time.sleep(600)

def fsync(fd):
    real_fsync(fd)
    if stall_at == "write":  # the new arrays are on disk in the temporary directory
        stall()

def replace(src, dst):
    real_replace(src, dst)
    calls.append(dst)
    if stall_at == "replace":  # checkpoint.npz replaced, checkpoint.json not yet
        stall()

os.fsync, os.replace = fsync, replace
save(target, state(1))
"""


@pytest.mark.parametrize("stall_at, version", [("write", 0), ("replace", 1)])
def test_sigkill_during_save_leaves_a_loadable_checkpoint(tmp_path, stall_at, version):
    target = tmp_path / "ck"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target), stall_at],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "stalled"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
    loaded = load(target)
    assert int(loaded["v"]) == version
    assert np.all(np.asarray(loaded["big"]) == version)
    assert np.array_equal(jax.random.key_data(loaded["key"]), jax.random.key_data(jr.key(version)))
    save(target, {"v": jnp.asarray(7)})  # the next save cleans up after the killed one
    assert int(load(target)["v"]) == 7
    assert sorted(os.listdir(tmp_path)) == ["ck"]


_LOOP = """
import sys
import numpy as np, jax.numpy as jnp
from lerax.checkpoint import save

for v in range(1000):
    save(sys.argv[1], {"big": np.full(8_000_000, v, np.float32), "v": jnp.asarray(v)})
    print(v, flush=True)
"""


def test_sigkill_at_an_arbitrary_moment_of_repeated_saves(tmp_path):
    target = tmp_path / "ck"
    writer = subprocess.Popen(
        [sys.executable, "-c", _LOOP, str(target)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        last = [int(writer.stdout.readline()) for _ in range(3)][-1]
        os.kill(writer.pid, signal.SIGKILL)  # most likely in the middle of a 32 MB write
    finally:
        writer.kill()
        writer.wait()
    loaded = load(target)
    assert int(loaded["v"]) >= last
    assert np.all(np.asarray(loaded["big"]) == int(loaded["v"]))


def test_a_run_saved_with_callback_states_of_another_version_resumes(
    tmp_path, as_saved_by_an_older_version
):
    """`load(callback_states=False)` reads everything a run trains and leaves the
    callbacks' states out, so a checkpoint whose callback state has other fields (an
    EvalCallbackState of a version without `lines`) still resumes, through
    `with_callbacks`, to the same policy as the run that never stopped."""
    callbacks = [EvalCallback(ENV, every=2, num_episodes=2)]
    policy = MLPActorCriticPolicy(env=ENV, key=jr.key(0), hidden=(8,))
    start = ALGO.init(ENV, policy, 6 * 32, key=jr.key(1), callback=callbacks)
    middle = ALGO.train(start, 3, callback=callbacks)
    save(tmp_path / "run", middle)
    as_saved_by_an_older_version(tmp_path / "run", ":EvalCallbackState", "lines")
    with pytest.raises(CheckpointError, match=r"EvalCallbackState has fields .*another version"):
        load(tmp_path / "run")

    loaded = load(tmp_path / "run", callback_states=False)
    assert loaded.callback_state is None and loaded.callback_step_state is None
    assert_same_leaves(
        dataclasses.replace(loaded, callback_state=None, callback_step_state=None),
        dataclasses.replace(middle, callback_state=None, callback_step_state=None),
    )
    template = ALGO.init(ENV, policy, 6 * 32, key=jr.key(9), callback=callbacks)
    assert_same_leaves(load(tmp_path / "run", like=template, callback_states=False), loaded)
    with pytest.raises(ValueError, match=r"no callback states .*with_callbacks"):
        ALGO.train(loaded, callback=callbacks)

    resumed = ALGO.train(ALGO.with_callbacks(loaded, callbacks), callback=callbacks)
    reference = ALGO.train(middle, callback=callbacks)
    assert int(resumed.iteration) == int(reference.iteration) == 6
    assert_same_leaves(resumed.policy, reference.policy)
    assert_same_leaves(resumed.opt_state, reference.opt_state)
    # The resumed run evaluated with its fresh callback state: evaluations 4 and 6.
    assert int(resumed.callback_state.states[0].num_evals) == 2
    assert int(reference.callback_state.states[0].num_evals) == 3


def test_leaving_callback_states_out_needs_a_training_checkpoint_and_a_bool(tmp_path, state):
    save(tmp_path / "policy", state.policy)
    with pytest.raises(
        CheckpointError, match=r"reads a training checkpoint .* MLPActorCriticPolicy"
    ):
        load(tmp_path / "policy", callback_states=False)
    save(tmp_path / "run", state)
    with pytest.raises(TypeError, match=r"`callback_states` must be True or False, got 'no'"):
        load(tmp_path / "run", callback_states="no")
    # A checkpoint with a leaf entry that its structure does not name is still refused.
    arrays = tmp_path / "run" / ARRAYS_FILE
    with np.load(arrays, allow_pickle=False) as f:
        entries = {name: f[name] for name in f.files}
    entries[leaf_key(len(entries) + 5)] = np.zeros(3)
    np.savez(arrays, **entries)
    with pytest.raises(CheckpointError, match="do not match its structure"):
        load(tmp_path / "run", callback_states=False)
