"""`train(state)` refuses, before compiling, a state that does not fit the algorithm
and callbacks it is given, naming the field and both values."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import jax.random as jr
import pytest

from lerax.algorithm import DQN, PPO
from lerax.algorithm._resume_checks import check_resume
from lerax.callback import EarlyStopping, SaveCheckpoints, StopOnMaxEpisodes, as_callback
from lerax.checkpoint import BufferNotSaved, CheckpointError, load, save
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy, MLPQPolicy

ENV = CartPole()


def _ppo(**kwargs):
    config = {"num_envs": 4, "num_steps": 8, "num_epochs": 1, "num_minibatches": 1, **kwargs}
    return PPO(**config)


def _state(algo=None, callback=None):
    algo = algo or _ppo()
    policy = MLPActorCriticPolicy(env=ENV, key=jr.key(0), hidden=(8,))
    return algo.init(ENV, policy, 640, key=jr.key(1), callback=callback)


def _after(state, iterations, steps):
    """`state` as if `iterations` iterations of `steps` env steps each had run."""
    return dataclasses.replace(
        state,
        iteration=jnp.asarray(iterations, jnp.int32),
        num_timesteps=jnp.asarray(iterations * steps, jnp.int32),
    )


def test_a_fitting_state_passes():
    callbacks = [EarlyStopping(100.0), StopOnMaxEpisodes(50)]
    algo = _ppo()
    state = _after(_state(algo, callbacks), 3, algo.steps_per_iteration)
    check_resume(algo, state, as_callback(callbacks))  # no error


def test_other_num_envs_is_named():
    with pytest.raises(
        ValueError,
        match=r"PPO\.train: num_envs: the state was made with 4 envs, the algorithm has "
        r"num_envs=8; resume it with PPO\(num_envs=4, \.\.\.\)",
    ):
        _ppo(num_envs=8).train(_state())


def test_other_num_steps_is_named_instead_of_doubling_the_budget():
    state = _after(_state(_ppo(num_steps=64)), 2, 4 * 64)
    with pytest.raises(
        ValueError,
        match=r"num_steps: the state took 512 env steps in 2 iterations \(64 per iteration "
        r"and env\), the algorithm has num_steps=128; .* PPO\(num_steps=64, \.\.\.\)",
    ):
        _ppo(num_steps=128).train(state)
    check_resume(_ppo(num_steps=64), state, as_callback(None))  # the right one passes


def test_other_buffer_size_and_a_buffer_left_out_are_named():
    def dqn(buffer_size):
        return DQN(num_envs=2, buffer_size=buffer_size, learning_starts=8)

    state = dqn(64).init(ENV, MLPQPolicy(ENV, key=jr.key(0), hidden=(8,)), 320, key=jr.key(1))
    with pytest.raises(
        ValueError,
        match=r"DQN\.train: buffer_size: the state's replay buffer holds 64 transitions, the "
        r"algorithm has buffer_size=128",
    ):
        dqn(128).train(state)
    left_out = dataclasses.replace(
        state,
        algorithm_state=dataclasses.replace(
            state.algorithm_state, buffer=BufferNotSaved("ReplayBuffer")
        ),
    )
    with pytest.raises(ValueError, match=r"ReplayBuffer was not saved .* like=algo\.init"):
        dqn(64).train(left_out)


def test_callbacks_missing_or_different_are_named(tmp_path):
    callbacks = [EarlyStopping(100.0), SaveCheckpoints("run", root=tmp_path)]
    save(tmp_path / "ck", _state(callback=callbacks))
    loaded = load(tmp_path / "ck")
    hint = r"Pass the callbacks the run was started \(and saved\) with, .*with_callbacks"
    with pytest.raises(
        ValueError,
        match=r"at `\.callback_state\.states` the state has 2 items \(EarlyStoppingState, "
        rf"SaveCheckpointsState\), the callbacks make 0 items \(\)\. {hint}",
    ):
        _ppo().train(loaded)  # `train(load(path))` without the callbacks
    with pytest.raises(
        ValueError,
        match=r"at `\.callback_state\.states\[1\]` the state has SaveCheckpointsState, the "
        r"callbacks make StopOnMaxEpisodesState",
    ):
        _ppo().train(loaded, callback=[EarlyStopping(100.0), StopOnMaxEpisodes(5)])
    assert not (tmp_path / "run").exists()  # refused before anything started


def test_a_template_without_the_callbacks_names_the_callback_state(tmp_path):
    callbacks = [EarlyStopping(100.0)]
    save(tmp_path / "ck", _state(callback=callbacks))
    with pytest.raises(
        CheckpointError,
        match=r"at `\.callback_state\.states`: the file has 1 item \(EarlyStoppingState\), "
        r"`like` has 0 items \(\)\. The template was made with other callbacks",
    ):
        load(tmp_path / "ck", like=_state())
    # A difference in the training part is named before the callbacks' one.
    other = _state(_ppo(num_envs=2))
    with pytest.raises(CheckpointError, match=r"at `\.env_state\.[^`]*`: the file has"):
        load(tmp_path / "ck", like=other)


def test_not_a_train_state():
    with pytest.raises(
        TypeError,
        match=r"PPO\.train: `state` must be the TrainState of `init` \(or a loaded "
        r"checkpoint\), got dict",
    ):
        _ppo().train({"iteration": 0})
