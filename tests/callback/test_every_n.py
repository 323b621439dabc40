"""EveryN inside real `learn` calls, under jit and `jax.vmap` over seeds: when the
wrapped callback runs, what it prints, and stopping through it."""

from __future__ import annotations

import contextlib
import io
import re

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from _stopping_helpers import MAX_ITERATIONS, Recorder, member

from lerax.algorithm import PPO
from lerax.callback import (
    AbstractCallbackState,
    AbstractIterationCallback,
    EveryN,
    PrintProgress,
    StopOnMaxEpisodes,
)
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

ALGO = PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)
POLICY = MLPActorCriticPolicy(env=CartPole(), key=jr.key(0))
ITERATIONS, STEPS = 30, 32
KEYS = jr.split(jr.key(1), 4)
# Per member, StopOnMaxEpisodes' n (checked every 5 iterations): members 1 and 2
# stop after iterations 10 and 15, 0 and 3 run to the budget. Member 2 then stays
# frozen at an iteration whose successor (16) is due for the wrapped PrintProgress:
# it must not print again while the others go on.
N = jnp.asarray([10**6, 12, 14, 10**6])


class CountState(AbstractCallbackState):
    ran: jnp.ndarray
    calls: jnp.ndarray


class CountCalls(AbstractIterationCallback[CountState]):
    """Marks the iterations at which its `on_iteration` ran."""

    def reset(self, ctx, *, key):
        return CountState(jnp.zeros((MAX_ITERATIONS,), bool), jnp.zeros((), jnp.int32))

    def on_iteration(self, ctx, *, key):
        s = ctx.state
        return CountState(s.ran.at[ctx.iteration_count - 1].set(True), s.calls + 1)


def _callbacks(n):
    return [
        EveryN(CountCalls(), iterations=3),
        EveryN(CountCalls(), timesteps=50),
        EveryN(PrintProgress(every=1), iterations=4),
        EveryN(StopOnMaxEpisodes(n), iterations=5),
        Recorder(),
    ]


def _run(key, n):
    callbacks = _callbacks(n)
    state = ALGO.init(CartPole(), POLICY, STEPS * ITERATIONS, key=key, callback=callbacks)
    return ALGO.train(state, callback=callbacks)


@pytest.fixture(scope="module")
def runs():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        batched = jax.vmap(_run)(KEYS, N)
        printed = out.getvalue()
        alone = [_run(KEYS[i], N[i]) for i in range(4)]
    return batched, alone, printed


def _expected_stop(state, i):
    episodes = np.asarray(member(state.callback_state.states[4], i).num_episodes)
    for it in range(5, ITERATIONS + 1, 5):
        if episodes[it - 1] >= int(N[i]):
            return it
    return ITERATIONS


def test_wrapped_callback_runs_only_when_due(runs):
    batched, _, _ = runs
    stops = [int(t) for t in batched.iteration]
    assert stops == [_expected_stop(batched, i) for i in range(4)]
    assert len(set(stops)) == 3, stops
    for i, t in enumerate(stops):
        every_3 = [it for it in range(1, t + 1) if it % 3 == 0]
        crossed = [it for it in range(1, t + 1) if STEPS * it // 50 > STEPS * (it - 1) // 50]
        for k, expected in ((0, every_3), (1, crossed)):
            s = member(batched.callback_state.states[k], i)
            assert (np.flatnonzero(s.inner.ran) + 1).tolist() == expected
            assert int(s.inner.calls) == int(s.calls) == len(expected)
            assert int(s.last_timesteps) == STEPS * t
        stopper = member(batched.callback_state.states[3], i).inner
        assert bool(stopper.stopped) == (t < ITERATIONS)
        assert int(stopper.stop_iteration) == (t if t < ITERATIONS else -1)


def test_sends_are_gated_and_stopped_members_stay_silent(runs):
    batched, _, printed = runs
    for i in range(4):
        t = int(batched.iteration[i])
        lines = re.findall(rf"^\[{i}\] +(\d+)/{STEPS * ITERATIONS} steps", printed, re.M)
        assert [int(x) for x in lines] == [STEPS * it for it in range(4, t + 1, 4)]
        assert printed.count(f"[{i}] done: {STEPS * t} steps") == 1
        stop_lines = re.findall(
            rf"^\[{i}\] StopOnMaxEpisodes: .* after iteration (\d+)", printed, re.M
        )
        assert stop_lines == ([str(t)] if t < ITERATIONS else [])


def test_each_member_alone_matches_the_vmapped_run(runs):
    batched, alone, _ = runs
    for i, single in enumerate(alone):
        assert int(single.iteration) == int(batched.iteration[i])
        for b, s in zip(
            batched.callback_state.states[:4], single.callback_state.states[:4], strict=True
        ):
            for x, y in zip(jax.tree.leaves(member(b, i)), jax.tree.leaves(s), strict=True):
                np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5)


def test_arguments_are_checked_and_shown():
    with pytest.raises(ValueError, match="exactly one"):
        EveryN(CountCalls())
    with pytest.raises(ValueError, match="exactly one"):
        EveryN(CountCalls(), iterations=2, timesteps=100)
    with pytest.raises(ValueError, match="iterations"):
        EveryN(CountCalls(), iterations=0)
    with pytest.raises(TypeError, match="timesteps"):
        EveryN(CountCalls(), timesteps=1e3)
    with pytest.raises(TypeError, match="callback"):
        EveryN(print, iterations=2)
    cb = EveryN(StopOnMaxEpisodes(5), timesteps=1000)
    assert repr(cb) == "EveryN(StopOnMaxEpisodes(n=5), timesteps=1000)"
    assert cb.config() == {
        "type": "EveryN",
        "callback": {"type": "StopOnMaxEpisodes", "n": 5},
        "iterations": None,
        "timesteps": 1000,
    }
