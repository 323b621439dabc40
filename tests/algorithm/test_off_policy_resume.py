"""DQN and SAC: checkpoint with the replay buffer, load, continue: bitwise the run that
never stopped (through `SaveCheckpoints(buffer=True)` and through `lerax.checkpoint`)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.algorithm import DQN, SAC, HardUpdate, OffPolicyState, ReplayBuffer
from lerax.callback import SaveCheckpoints
from lerax.checkpoint import BufferNotSaved, load, save
from lerax.env import CartPole, Pendulum
from lerax.policy import MLPQPolicy, MLPSACPolicy

SIZES = dict(num_envs=2, buffer_size=48, batch_size=8, learning_starts=16, train_freq=4)
PER_ITERATION = 8
TOTAL = 8 * PER_ITERATION  # 64 transitions: the 48-slot buffer wraps around
SAVES = "checkpoints/agent/saves"


def make(name: str):
    if name == "dqn":
        env = CartPole()
        policy = MLPQPolicy(env=env, key=jr.key(0), hidden=(16, 16))
        return env, policy, DQN(**SIZES, target_update=HardUpdate(every=3)), "CartPole"
    env = Pendulum()
    policy = MLPSACPolicy(env=env, key=jr.key(0), hidden=(16, 16))
    return env, policy, SAC(**SIZES, gradient_steps=2), "Pendulum"


def leaves_equal(a, b) -> bool:
    def data(x):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.key_data(x)
        return x

    xs, ys = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(xs) == len(ys) and all(
        x.dtype == y.dtype and np.array_equal(data(x), data(y)) for x, y in zip(xs, ys, strict=True)
    )


def training_part(state):
    """Everything but the callbacks' own state and key (saved from before their hook)."""
    return dataclasses.replace(state, callback_state=None, callback_key=None, stopped=None)


@pytest.mark.parametrize("name", ["dqn", "sac"])
def test_save_checkpoints_with_buffer_resumes_bitwise(tmp_path, monkeypatch, name):
    env, policy, algo, env_dir = make(name)
    (tmp_path / "straight").mkdir()
    (tmp_path / "resumed").mkdir()

    monkeypatch.chdir(tmp_path / "straight")
    callback = SaveCheckpoints("agent", frequency=1, buffer=True)
    start = algo.init(env, policy, TOTAL, key=jr.key(7), callback=callback)
    straight = algo.train(start, callback=callback)
    buffer = straight.algorithm_state.buffer
    assert int(buffer.size) == 48 and int(buffer.position) == TOTAL % 48

    monkeypatch.chdir(tmp_path / "resumed")
    callback = SaveCheckpoints("agent", frequency=1, buffer=True)
    half = algo.train(start, 3, callback=callback)
    saved = load(f"{SAVES}/{env_dir}_3")
    assert isinstance(saved.algorithm_state, OffPolicyState)
    assert isinstance(saved.algorithm_state.buffer, ReplayBuffer)
    assert int(saved.algorithm_state.buffer.size) == 3 * PER_ITERATION
    assert int(saved.algorithm_state.num_updates) > 0  # learning had started
    assert leaves_equal(training_part(saved), training_part(half))

    resumed = algo.train(saved, callback=callback)  # the same callback continues its dir
    assert int(resumed.iteration) == 8
    assert leaves_equal(resumed.algorithm_state, straight.algorithm_state)
    assert leaves_equal(training_part(resumed), training_part(straight))
    assert leaves_equal(load(f"{SAVES}/{env_dir}_final").policy, straight.policy)


@pytest.mark.parametrize("name", ["dqn", "sac"])
def test_checkpoint_save_load_resumes_bitwise(tmp_path, name):
    env, policy, algo, _ = make(name)
    start = algo.init(env, policy, TOTAL, key=jr.key(3))
    straight = algo.train(start)
    half = algo.train(start, 5)
    save(tmp_path / "half", half)
    resumed = algo.train(load(tmp_path / "half"))
    assert leaves_equal(training_part(resumed), training_part(straight))
    # Without a template, a checkpoint saved without its buffer says so.
    save(tmp_path / "nobuffer", dataclasses.replace(half, algorithm_state=BufferNotSaved("x")))
    assert isinstance(load(tmp_path / "nobuffer").algorithm_state, BufferNotSaved)
