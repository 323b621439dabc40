"""The callback contract inside a real `learn`: hooks, states, stopping, keys."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.random as jr
import numpy as np
import pytest
from _callback_helpers import (
    CountSteps,
    KeyUser,
    LogIterations,
    StartEnd,
    StopAfterEpisodes,
    StopAtIteration,
)

from lerax.algorithm import PPO, collect_rollout
from lerax.callback import (
    AbstractStatelessCallback,
    CallbackList,
    EmptyCallbackState,
    EmptyCallbackStepState,
    as_callback,
)
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

SMALL = dict(num_envs=3, num_steps=16, num_epochs=1, num_minibatches=2)


@pytest.fixture(scope="module")
def setup():
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    return env, policy, PPO(**SMALL)


def _params(policy):
    return jax.tree.leaves(eqx.filter(policy, eqx.is_array))


def test_step_callback_counts_match_the_rollout(setup):
    env, policy, algo = setup
    callback = as_callback(CountSteps())
    state = algo.init(env, policy, 3 * 16 * 4, key=jr.key(1), callback=callback)
    new_state, rollout, _ = jax.jit(
        lambda s: collect_rollout(s, callback, 16, key=jr.key(2), callback_key=jr.key(3))
    )(state)
    counts = new_state.callback_step_state.step_states[0]
    assert counts.steps.shape == (3,)
    np.testing.assert_array_equal(counts.steps, [16, 16, 16])
    np.testing.assert_array_equal(counts.episodes, np.asarray(rollout.done).sum(axis=0))
    np.testing.assert_allclose(counts.reward_sum, np.asarray(rollout.reward).sum(axis=0), rtol=1e-6)
    assert int(new_state.num_episodes) == int(np.asarray(rollout.done).sum())


def test_every_kind_of_callback_in_learn(setup):
    env, policy, algo = setup
    callbacks = [CountSteps(), LogIterations(), StartEnd()]
    state = algo.init(env, policy, 48 * 10, key=jr.key(4), callback=callbacks)
    state = algo.train(state, callback=callbacks)
    steps, iters, start_end = (
        state.callback_step_state.step_states[0],
        state.callback_state.states[1],
        state.callback_state.states[2],
    )
    assert int(state.iteration) == 10
    assert int(state.num_timesteps) == 480
    np.testing.assert_array_equal(steps.steps, [160, 160, 160])
    assert int(steps.episodes.sum()) == int(state.num_episodes)
    # CartPole's reward is 1 per step, so the summed raw reward is the step count.
    np.testing.assert_allclose(steps.reward_sum, [160.0, 160.0, 160.0])
    assert int(iters.iterations) == 10
    assert int(iters.last_timesteps) == 480
    assert np.isfinite(float(iters.loss_sum))
    assert (int(start_end.started), int(start_end.ended), int(start_end.end_iteration)) == (
        1,
        1,
        10,
    )
    assert isinstance(state.callback_state.states[0], EmptyCallbackState)
    assert isinstance(state.callback_step_state.step_states[1], EmptyCallbackStepState)


def test_continue_training_stops_inside_the_program(setup):
    env, policy, algo = setup
    callbacks = [LogIterations(), StopAtIteration(4)]
    state = algo.init(env, policy, 48 * 50, key=jr.key(5), callback=callbacks)
    state = algo.train(state, callback=callbacks)
    assert bool(state.stopped)
    assert int(state.iteration) == 4
    assert int(state.num_timesteps) == 4 * 48
    assert int(state.callback_state.states[0].iterations) == 4


def test_continue_training_sees_the_state_on_iteration_returned(setup):
    env, policy, algo = setup

    class StopOnOwnCount(LogIterations):
        def continue_training(self, ctx, *, key):
            return ctx.state.iterations < 3

    state = algo.init(env, policy, 48 * 20, key=jr.key(6), callback=StopOnOwnCount())
    state = algo.train(state, callback=StopOnOwnCount())
    assert int(state.iteration) == 3


def test_each_vmapped_seed_stops_on_its_own(setup):
    env, policy, algo = setup
    callback = StopAfterEpisodes(40)

    def run(key):
        state = algo.init(env, policy, 48 * 40, key=key, callback=callback)
        return algo.train(state, callback=callback)

    keys = jr.split(jr.key(7), 4)
    batched = jax.vmap(run)(keys)
    alone = [run(k) for k in keys]
    np.testing.assert_array_equal(batched.iteration, [int(s.iteration) for s in alone])
    np.testing.assert_array_equal(batched.num_episodes, [int(s.num_episodes) for s in alone])
    assert len(set(np.asarray(batched.num_timesteps).tolist())) > 1, "seeds should differ"
    for i, single in enumerate(alone):
        for b, s in zip(_params(batched.policy), _params(single.policy), strict=True):
            np.testing.assert_allclose(b[i], s, rtol=1e-3, atol=1e-4)
        assert int(single.num_timesteps) == int(single.iteration) * 48
        assert int(single.num_episodes) >= 40


def test_callbacks_do_not_change_what_is_trained(setup):
    env, policy, algo = setup
    plain = algo.learn(env, policy, 48 * 6, key=jr.key(8))
    with_callbacks = algo.learn(
        env, policy, 48 * 6, key=jr.key(8), callback=[KeyUser(), CountSteps(), LogIterations()]
    )
    reordered = algo.learn(
        env, policy, 48 * 6, key=jr.key(8), callback=[LogIterations(), KeyUser()]
    )
    for a, b, c in zip(_params(plain), _params(with_callbacks), _params(reordered), strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
        assert np.array_equal(np.asarray(a), np.asarray(c))
    other = algo.learn(env, policy, 48 * 6, key=jr.key(9))
    assert not all(
        np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(_params(plain), _params(other), strict=True)
    )


def test_learn_does_not_retrace_for_new_key_or_env_parameters(setup):
    _, policy, algo = setup
    traces = []

    class TraceCounter(AbstractStatelessCallback):
        def on_iteration(self, ctx, *, key):
            traces.append(1)
            return ctx.state

    algo.learn(CartPole(), policy, 48 * 2, key=jr.key(10), callback=TraceCounter())
    algo.learn(CartPole(gravity=12.0), policy, 48 * 2, key=jr.key(11), callback=TraceCounter())
    algo.learn(CartPole(force_mag=5.0), policy, 48 * 2, key=jr.key(12), callback=TraceCounter())
    assert len(traces) == 1


@pytest.mark.parametrize("bad", [3, "callback", object(), [CountSteps(), 1]])
def test_bad_callback_argument_raises_type_error(setup, bad):
    env, policy, algo = setup
    with pytest.raises(TypeError, match="callback"):
        algo.learn(env, policy, 48, key=jr.key(0), callback=bad)


def test_callback_list_threads_children_and_ands_continue():
    list_ = CallbackList([StopAtIteration(2), StopAtIteration(5)])
    assert as_callback(list_) is list_
    assert as_callback(None).callbacks == ()
    assert as_callback(CountSteps()).callbacks == (CountSteps(),)
    assert "StopAtIteration" in repr(list_)
    assert list_.config()["callbacks"][1] == {"type": "StopAtIteration", "at": 5}
