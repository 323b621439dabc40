"""SaveCheckpoints: layout, exact resume, keep, refusal, vmap over seeds, failures.

Every test runs in its own working directory with the same relative `root`, so equal
callbacks compile once for the whole file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sqlite3

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from _callback_helpers import StopAtIteration

from lerax.algorithm import PPO
from lerax.callback import EvalCallback
from lerax.callback.evaluation import _eval
from lerax.callback.logging import LoggingCallback, SQLiteBackend, _session
from lerax.callback.saving._checkpoint_writer import _STRUCTURES, env_dirname
from lerax.callback.saving._save_checkpoints import SaveCheckpoints
from lerax.checkpoint import BufferNotSaved, load, read_metadata
from lerax.env import CartPole
from lerax.host import member_label as member_dir
from lerax.policy import MLPActorCriticPolicy

ENV = CartPole()
POLICY = MLPActorCriticPolicy(env=ENV, key=jr.key(0))
ALGO = PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)
PER_ITERATION = 32
SAVES = "checkpoints/agent/saves"


def listing(path) -> list[str]:
    return sorted(p for p in os.listdir(path) if not p.startswith("."))


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


def read_json(path):
    with open(path) as f:
        return json.load(f)


def test_construction_validates_and_has_no_side_effect(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    SaveCheckpoints("agent", frequency=5, buffer=True, keep=3, root=tmp_path / "elsewhere")
    assert os.listdir(tmp_path) == []
    for kwargs, error in [
        ({"frequency": 0}, ValueError),
        ({"frequency": True}, TypeError),
        ({"keep": 0}, ValueError),
        ({"buffer": 1}, TypeError),
    ]:
        with pytest.raises(error, match="SaveCheckpoints"):
            SaveCheckpoints("agent", **kwargs)
    with pytest.raises(TypeError, match="dirname"):
        SaveCheckpoints("")


def learn_callbacks():
    return [SaveCheckpoints("agent", frequency=2), StopAtIteration(5)]


def test_layout_and_files_after_learn(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    policy = ALGO.learn(ENV, POLICY, 6 * PER_ITERATION, key=jr.key(1), callback=learn_callbacks())
    assert listing("checkpoints/agent") == ["saves"]
    assert listing(SAVES) == [
        "CartPole_2",
        "CartPole_4",
        "CartPole_final",
        "completed.json",
        "model_config.json",
    ]
    final = load(f"{SAVES}/CartPole_final")
    assert leaves_equal(final.policy, policy)
    assert int(final.iteration) == 5 and bool(final.stopped)
    assert read_metadata(f"{SAVES}/CartPole_2")["iteration"] == 2
    assert int(load(f"{SAVES}/CartPole_4").num_timesteps) == 4 * PER_ITERATION

    completed = read_json(f"{SAVES}/completed.json")
    assert completed["stop_reason"] == "stopped by callback"
    assert completed["iterations"] == 5
    assert completed["timesteps"] == 5 * PER_ITERATION
    assert completed["episodes"] == int(final.num_episodes)
    assert completed["final_checkpoint"] == "CartPole_final"
    assert completed["wall_time_s"] >= 0

    config = read_json(f"{SAVES}/model_config.json")
    assert config["algorithm"] == "PPO" and config["env"] == "CartPole-v1"
    assert config["hyperparameters"]["num_envs"] == 2
    assert config["hyperparameters"]["learning_rate"] == pytest.approx(2.5e-4)
    assert config["env_parameters"]["gravity"] == pytest.approx(9.8)
    assert config["policy"]["type"] == "MLPActorCriticPolicy"
    assert config["policy"]["actor"]["activation"] == "tanh"
    saver = config["callback"]["callbacks"][0]
    assert saver == {
        "type": "SaveCheckpoints",
        "dirname": "agent",
        "frequency": 2,
        "buffer": False,
        "keep": None,
        "root": "checkpoints",
    }


def test_non_finite_parameters_are_never_saved(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    broken = jax.tree.map(lambda x: x * jnp.nan if is_weight(x) else x, POLICY)
    ALGO.learn(ENV, broken, 6 * PER_ITERATION, key=jr.key(1), callback=learn_callbacks())
    assert listing(SAVES) == ["completed.json", "model_config.json"]
    completed = read_json(f"{SAVES}/completed.json")
    assert completed["final_checkpoint"] is None
    assert completed["skipped_non_finite"] == 3  # iterations 2 and 4, and the final save
    assert capsys.readouterr().err.count("not finite") == 1


def is_weight(x) -> bool:
    return isinstance(x, jax.Array) and x.ndim == 2  # the networks' weight matrices


def test_checkpoint_is_the_state_of_its_iteration_and_resume_is_bitwise(tmp_path, monkeypatch):
    (tmp_path / "straight").mkdir()
    (tmp_path / "resumed").mkdir()
    total = 6 * PER_ITERATION

    monkeypatch.chdir(tmp_path / "straight")
    callback = SaveCheckpoints("agent", frequency=1, keep=2)
    start = ALGO.init(ENV, POLICY, total, key=jr.key(7), callback=callback)
    straight = ALGO.train(start, callback=callback)
    # keep=2: of the periodic saves 1..5 (6 is the last iteration), the newest two.
    assert listing(SAVES)[:3] == ["CartPole_4", "CartPole_5", "CartPole_final"]

    monkeypatch.chdir(tmp_path / "resumed")
    callback = SaveCheckpoints("agent", frequency=1, keep=2)
    half = ALGO.train(start, 3, callback=callback)
    assert read_json(f"{SAVES}/completed.json")["stop_reason"] == "num_iterations"
    saved = load(f"{SAVES}/CartPole_3")
    assert leaves_equal(training_part(saved), training_part(half))
    assert leaves_equal(training_part(load(f"{SAVES}/CartPole_final")), training_part(half))

    resumed = ALGO.train(saved, callback=callback)  # the same callback continues its dir
    assert int(resumed.iteration) == 6
    assert leaves_equal(resumed.policy, straight.policy)
    assert leaves_equal(training_part(resumed), training_part(straight))
    assert listing(SAVES)[:3] == ["CartPole_4", "CartPole_5", "CartPole_final"]
    assert read_json(f"{SAVES}/completed.json")["stop_reason"] == "budget"
    assert leaves_equal(load(f"{SAVES}/CartPole_final").policy, straight.policy)


def test_a_resumed_run_sends_only_its_own_events_and_evaluation_lines(
    tmp_path, monkeypatch, capsys
):
    """A checkpoint taken while log events and evaluation lines were still waiting to
    cross: the run that saved it crosses them; the run resumed from it logs and
    prints only the iterations after the checkpoint (no duplicates, none missing).

    The host is made to ask for crossings rarely (after the first two, only when a
    buffer is full or training ends), so events are waiting at the checkpoint however
    fast or slow this machine runs the program."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_session, "LOG_CROSSINGS_PER_SECOND", 1e-3)
    monkeypatch.setattr(_eval, "EVAL_LINES_PER_SECOND", 1e-3)
    iterations, saved_at = 20, 10

    def callbacks(name):
        return [
            LoggingCallback(SQLiteBackend(f"{name}.db"), name=name),
            EvalCallback(ENV, every=1, num_episodes=2),
            SaveCheckpoints(name, frequency=5),
        ]

    def logged(name):
        with sqlite3.connect(f"{name}.db") as db:
            return [step // PER_ITERATION for (step,) in db.execute("SELECT step FROM events")]

    def printed():
        return [
            int(i)
            for i in re.findall(r"^eval after iteration (\d+) ", capsys.readouterr().out, re.M)
        ]

    ALGO.learn(ENV, POLICY, iterations * PER_ITERATION, key=jr.key(3), callback=callbacks("a"))
    assert sorted(logged("a")) == list(range(1, iterations + 1))
    assert printed() == list(range(1, iterations + 1))
    saved = load(f"checkpoints/a/saves/{env_dirname(ENV.name)}_{saved_at}")
    # It was saved with events still waiting in the device-side buffers.
    assert int(saved.callback_state.states[0].events.count) > 0
    assert int(saved.callback_state.states[1].lines.count) > 0
    ALGO.train(saved, callback=callbacks("b"))
    assert sorted(logged("b")) == list(range(saved_at + 1, iterations + 1))
    assert printed() == list(range(saved_at + 1, iterations + 1))


def test_a_session_sweeps_what_killed_writers_left(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    callback = SaveCheckpoints("agent", frequency=1)
    start = ALGO.init(ENV, POLICY, 4 * PER_ITERATION, key=jr.key(7), callback=callback)
    half = ALGO.train(start, 2, callback=callback)
    leftovers = [f"{SAVES}/.CartPole_17.tmp-x1", f"{SAVES}/.CartPole_1.deleting-x2"]
    for stale in leftovers:
        os.makedirs(f"{stale}/inner")
        (tmp_path / stale / "inner" / "checkpoint.npz").write_bytes(b"\0" * 4096)
    (tmp_path / SAVES / ".model_config.json.tmp-x3").write_text("{")
    os.makedirs("checkpoints/agent/seed_0/saves/.CartPole_2.tmp-x4")
    ALGO.train(half, 1, callback=callback)  # the next session of the same directory
    assert sorted(p for p in os.listdir(SAVES) if p.startswith(".")) == []
    assert os.listdir("checkpoints/agent/seed_0/saves") == []
    assert listing(SAVES)[:4] == ["CartPole_1", "CartPole_2", "CartPole_3", "CartPole_final"]
    assert int(load(f"{SAVES}/CartPole_final").iteration) == 3


def test_existing_directory_is_refused_at_training_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs("checkpoints/agent")
    callback = SaveCheckpoints("agent", frequency=1, keep=2)
    with pytest.raises(FileExistsError, match="Items already exist in the '.*agent' directory"):
        ALGO.learn(ENV, POLICY, 6 * PER_ITERATION, key=jr.key(1), callback=callback)
    assert listing("checkpoints/agent") == []


def test_write_failure_is_reported_once_and_training_completes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").write_text("not a directory")  # every write fails
    callback = SaveCheckpoints("agent", frequency=1, keep=2)
    start = ALGO.init(ENV, POLICY, 6 * PER_ITERATION, key=jr.key(7), callback=callback)
    state = ALGO.train(start, callback=callback)
    assert int(state.iteration) == 6
    err = capsys.readouterr().err
    assert err.count("SaveCheckpoints failed") == 1
    assert "later saves of this run are skipped" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir(mode=0o555)
    callback = SaveCheckpoints("agent", frequency=1, keep=2)
    start = ALGO.init(ENV, POLICY, 6 * PER_ITERATION, key=jr.key(7), callback=callback)
    assert int(ALGO.train(start, callback=callback).iteration) == 6
    assert capsys.readouterr().err.count("SaveCheckpoints failed") == 1


def test_vmap_over_seeds_one_directory_per_member(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    keys = jr.split(jr.key(3), 3)

    def learn(key):
        callback = SaveCheckpoints("agent", frequency=2)
        return ALGO.learn(ENV, POLICY, 3 * PER_ITERATION, key=key, callback=callback)

    policies = jax.vmap(learn)(keys)
    assert listing("checkpoints/agent") == ["seed_0", "seed_1", "seed_2"]
    finals = []
    for i in range(3):
        saves = f"checkpoints/agent/seed_{i}/saves"
        assert listing(saves) == [
            "CartPole_2",
            "CartPole_final",
            "completed.json",
            "model_config.json",
        ]
        assert read_json(f"{saves}/model_config.json")["member"] == [i]
        final = load(f"{saves}/CartPole_final")
        mine = jax.tree.map(lambda x, i=i: x[i], policies)
        assert leaves_equal(final.policy, mine)
        assert int(load(f"{saves}/CartPole_2").iteration) == 2
        finals.append(final)
    assert not leaves_equal(finals[0].policy, finals[1].policy)
    assert not leaves_equal(finals[1].observation, finals[2].observation)


def test_under_jit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    callback = SaveCheckpoints("agent", frequency=2)
    learn = jax.jit(
        lambda key: ALGO.learn(ENV, POLICY, 3 * PER_ITERATION, key=key, callback=callback)
    )
    policy = learn(jr.key(4))
    jax.effects_barrier()
    assert listing(SAVES)[:2] == ["CartPole_2", "CartPole_final"]
    assert leaves_equal(load(f"{SAVES}/CartPole_final").policy, policy)


def _dqn_state():
    from lerax.algorithm import DQN, HardUpdate
    from lerax.policy import MLPQPolicy

    algo = DQN(
        buffer_size=50,
        batch_size=8,
        learning_starts=8,
        train_freq=4,
        target_update=HardUpdate(every=1),
    )
    policy = MLPQPolicy(env=ENV, key=jr.key(0))
    return algo, algo.init(ENV, policy, 64, key=jr.key(7))


@pytest.mark.parametrize("buffer", [False, True])
def test_only_the_replay_buffer_is_left_out_with_buffer_false(buffer, tmp_path):
    algo, state = _dqn_state()
    state = algo.train(state, 4)  # the target network differs from its fresh copy now
    payload = SaveCheckpoints("agent", buffer=buffer)._state_payload(state)
    skeleton = _STRUCTURES[int(payload["structure"])].skeleton
    shapes = [leaf.shape for leaf in payload["leaves"]]
    buffer_shape = state.algorithm_state.buffer.observations.shape
    if buffer:
        assert type(skeleton.algorithm_state.buffer).__name__ == "ReplayBuffer"
        assert buffer_shape in shapes
    else:
        assert skeleton.algorithm_state.buffer == BufferNotSaved("ReplayBuffer")
        assert buffer_shape not in shapes
    # the target network (learner state) is saved either way
    assert type(skeleton.algorithm_state.learner).__name__ == "DQNLearnerState"
    # PPO's algorithm state holds no arrays: it is saved either way.
    start = ALGO.init(ENV, POLICY, 6 * PER_ITERATION, key=jr.key(7))
    payload = SaveCheckpoints("agent", buffer=buffer)._state_payload(start)
    skeleton = _STRUCTURES[int(payload["structure"])].skeleton
    assert type(skeleton.algorithm_state) is type(start.algorithm_state)


def test_load_like_fills_in_the_buffer_and_keeps_the_saved_target_network(tmp_path):
    from lerax.checkpoint import save

    algo, fresh = _dqn_state()
    trained = algo.train(fresh, 4)
    marked = jax.tree.map(
        lambda x: BufferNotSaved("ReplayBuffer") if type(x).__name__ == "ReplayBuffer" else x,
        trained,
        is_leaf=lambda x: type(x).__name__ == "ReplayBuffer",
    )
    save(tmp_path / "ck", marked)
    loaded = load(tmp_path / "ck", like=fresh)
    assert leaves_equal(loaded.algorithm_state.buffer, fresh.algorithm_state.buffer)
    assert leaves_equal(loaded.algorithm_state.learner, trained.algorithm_state.learner)
    assert not leaves_equal(loaded.algorithm_state.learner, fresh.algorithm_state.learner)
    assert leaves_equal(loaded.policy, trained.policy)


def test_directory_names():
    assert member_dir(()) == ""
    assert member_dir((2,)) == "seed_2"
    assert member_dir((1, 3)) == "1_3"
    assert env_dirname("CartPole-v1") == "CartPole"
    assert env_dirname("My Env/x-v12") == "My_Env_x"
