"""PrintProgress inside real `learn` calls: the episodes it reports (from the driver's
`IterationContext.episodes`) against a step-by-step count, under jit and vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jaxtyping import Array, Float, Int

from lerax.algorithm import PPO
from lerax.callback import (
    AbstractCallback,
    AbstractCallbackState,
    AbstractCallbackStepState,
    PrintProgress,
)
from lerax.callback.progress import _print_progress
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

ALGO = PPO(num_envs=2, num_steps=32, num_epochs=1, num_minibatches=1)
POLICY = MLPActorCriticPolicy(env=CartPole(), key=jr.key(0))
ITERATIONS = 8
EVERY = 3


class _Sums(AbstractCallbackStepState):
    running: Float[Array, ""]
    finished: Int[Array, ""]
    total: Float[Array, ""]


class _History(AbstractCallbackState):
    finished: Int[Array, " iterations"]
    total: Float[Array, " iterations"]


class _StepByStep(AbstractCallback[_History, _Sums]):
    """The episodes finished up to each iteration, counted env step by env step."""

    def reset(self, ctx, *, key):
        return _History(jnp.zeros((ITERATIONS + 1,), jnp.int32), jnp.zeros((ITERATIONS + 1,)))

    def step_reset(self, ctx, *, key):
        return _Sums(jnp.zeros(()), jnp.zeros((), jnp.int32), jnp.zeros(()))

    def on_step(self, ctx, *, key):
        running = ctx.state.running + ctx.reward
        return _Sums(
            running=jnp.where(ctx.done, 0.0, running),
            finished=ctx.state.finished + ctx.done.astype(jnp.int32),
            total=ctx.state.total + jnp.where(ctx.done, running, 0.0),
        )

    def on_iteration(self, ctx, *, key):
        i = ctx.iteration_count
        return _History(
            ctx.state.finished.at[i].set(ctx.step_state.finished.sum()),
            ctx.state.total.at[i].set(ctx.step_state.total.sum()),
        )

    def on_training_start(self, ctx, *, key):
        return ctx.state

    def on_training_end(self, ctx, *, key):
        return ctx.state

    def continue_training(self, ctx, *, key):
        return jnp.asarray(True)


@pytest.fixture
def rows(monkeypatch):
    """The rows PrintProgress's host receiver gets, in order."""
    seen = []

    def record(self, rows, index):
        seen.append(({k: np.asarray(v).copy() for k, v in rows.items()}, index.copy()))

    monkeypatch.setattr(_print_progress._ProgressPrinter, "__call__", record)
    return seen


def _expected(history: _History, member=()):
    finished = np.asarray(history.finished)[member]
    total = np.asarray(history.total)[member]
    due = list(range(EVERY, ITERATIONS + 1, EVERY))
    last = 0
    out = []
    for i in due:
        out.append((int(finished[i] - finished[last]), float(total[i] - total[last])))
        last = i
    return due, out


def test_reports_the_episodes_finished_since_the_last_line(rows):
    callback = [PrintProgress(every=EVERY), _StepByStep()]
    state = ALGO.init(CartPole(), POLICY, ITERATIONS * 64, key=jr.key(3), callback=callback)
    state = ALGO.train(state, callback=callback)
    jax.effects_barrier()
    history = state.callback_state.states[1]
    due, expected = _expected(history)
    lines = [r for r, _ in rows if int(r["event"][0]) == 1]
    assert [int(r["timesteps"][0]) for r in lines] == [i * 64 for i in due]
    assert len(lines) == len(expected) and expected[0][0] > 0
    for row, (count, total) in zip(lines, expected, strict=True):
        assert int(row["finished"][0]) == count
        np.testing.assert_allclose(float(row["finished_return"][0]), total, rtol=1e-5)
    (end,) = [r for r, _ in rows if int(r["event"][0]) == 2]
    assert int(end["finished"][0]) == int(state.num_episodes) == int(history.finished[-1])


def test_each_vmapped_member_reports_its_own_episodes(rows):
    callback = [PrintProgress(every=EVERY), _StepByStep()]

    def run(key):
        state = ALGO.init(CartPole(), POLICY, ITERATIONS * 64, key=key, callback=callback)
        return ALGO.train(state, callback=callback)

    state = jax.vmap(run)(jr.split(jr.key(4), 2))
    jax.effects_barrier()
    history = state.callback_state.states[1]
    lines = [(r, i) for r, i in rows if int(r["event"][0]) == 1]
    for member in range(2):
        _, expected = _expected(history, member)
        got = [
            (int(r["finished"][j]), float(r["finished_return"][j]))
            for r, index in lines
            for j in range(index.shape[0])
            if int(index[j][0]) == member
        ]
        assert [c for c, _ in got] == [c for c, _ in expected]
        np.testing.assert_allclose([t for _, t in got], [t for _, t in expected], rtol=1e-5)
