"""Callbacks that act outside the training envs (EvalCallback, RecordVideos) use the
policy with the training observation statistics when training normalises them."""

from __future__ import annotations

import types

import jax.random as jr
import numpy as np
import pytest

from lerax.algorithm import PPO
from lerax.callback import EvalCallback
from lerax.callback._deployment import acting_policy
from lerax.env import CartPole
from lerax.env.wrapper import NormalizeObservation
from lerax.policy import MLPActorCriticPolicy, ObservationNormalizedPolicy, evaluate_policy

ALGO = PPO(num_envs=2, num_steps=32, num_epochs=2, num_minibatches=1)
ITERATIONS, EPISODES = 12, 4


def _state(env, callback=None):
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    state = ALGO.init(env, policy, 64 * ITERATIONS, key=jr.key(1), callback=callback)
    return ALGO.train(state, callback=callback)


def test_acting_policy_adds_the_statistics_only_where_they_are_missing():
    normalised = _state(NormalizeObservation(CartPole()))
    ctx = types.SimpleNamespace(train_state=normalised, policy=normalised.policy)
    acting = acting_policy(ctx, CartPole())
    assert type(acting) is ObservationNormalizedPolicy and acting.policy is normalised.policy
    expected = normalised.env_state.env_state.statistics.pooled()
    np.testing.assert_array_equal(acting.statistics.mean, expected.mean)
    np.testing.assert_array_equal(acting.statistics.var, expected.var)
    # An evaluation env with its own layer normalises by itself.
    assert acting_policy(ctx, NormalizeObservation(CartPole())) is normalised.policy
    plain = _state(CartPole())
    ctx = types.SimpleNamespace(train_state=plain, policy=plain.policy)
    assert acting_policy(ctx, CartPole()) is plain.policy
    assert acting_policy(types.SimpleNamespace(policy=plain.policy), CartPole()) is plain.policy


def test_eval_callback_measures_the_deployable_policy_in_task_units():
    env = NormalizeObservation(CartPole())
    callback = EvalCallback(CartPole(), every=ITERATIONS, num_episodes=EPISODES)
    state = _state(env, [callback])
    s = state.callback_state.states[0]
    assert int(s.num_evals) == 1
    key = jr.fold_in(s.key, 0)
    deployed, _ = evaluate_policy(
        CartPole(), state.deployable_policy(), num_episodes=EPISODES, key=key
    )
    raw, _ = evaluate_policy(CartPole(), state.policy, num_episodes=EPISODES, key=key)
    # Evaluated in another program: an episode's end may move by a step (see test_eval).
    assert float(s.mean_return) == pytest.approx(float(deployed.mean()), abs=1.0)
    assert abs(float(raw.mean()) - float(deployed.mean())) > 1.0  # the statistics matter
