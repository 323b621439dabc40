"""EvalCallback inside real `learn` calls, under jit and `jax.vmap` over seeds: its
values against `evaluate_policy`, its best policy, and its stopping children."""

from __future__ import annotations

import contextlib
import io
import re

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from _stopping_helpers import Recorder, first, member

from lerax import host
from lerax.algorithm import PPO
from lerax.callback import CallbackList, EarlyStopping, EvalCallback, StopOnNoImprovement
from lerax.callback._gating import run_if_due
from lerax.callback.evaluation import _eval
from lerax.callback.logging import ConsoleBackend, LoggingCallback
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy, evaluate_policy

ALGO = PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)
POLICY = MLPActorCriticPolicy(env=CartPole(), key=jr.key(0))
EVERY, EPISODES, ITERATIONS, PATIENCE = 3, 4, 39, 4
# Per member, the target of the `callback_on_new_best` EarlyStopping. With these
# seeds' evaluations: member 0 runs to the budget, 1 and 2 stop on no improvement
# (iterations 36 and 27), 3 on a new best above 130 (iteration 12).
KEYS = jr.split(jr.key(0), 8)[:4]
TARGET = jnp.asarray([1e9, 1e9, 1e9, 130.0])
# A LoggingCallback run after each evaluation logs the evaluation's metrics too.
LOGGED = io.StringIO()
LOGGING = LoggingCallback(
    ConsoleBackend(stream=LOGGED, show_members=True, keys=["train/eval/mean_return"], interval=0.0),
    name="eval",
)


def _run(key, target):
    env = CartPole()
    callbacks = [
        EvalCallback(
            env,
            every=EVERY,
            num_episodes=EPISODES,
            callback_on_new_best=EarlyStopping(target, patience=1),
            callback_after_eval=CallbackList([StopOnNoImprovement(PATIENCE), LOGGING]),
        ),
        Recorder(watch=0, field="mean_return"),
    ]
    state = ALGO.init(env, POLICY, 32 * ITERATIONS, key=key, callback=callbacks)
    return ALGO.train(state, callback=callbacks)


@pytest.fixture(scope="module")
def runs():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        batched = jax.vmap(_run)(KEYS, TARGET)
        printed, logged = out.getvalue(), LOGGED.getvalue()
        alone = [_run(KEYS[i], TARGET[i]) for i in range(4)]
    return batched, alone, printed, logged


def _evaluations(state, i):
    """The mean return of every evaluation member `i` ran, read from the recorder
    (one iteration late) and, for the last iteration, from the final state."""
    t = int(state.iteration[i])
    watched = np.asarray(member(state.callback_state.states[1], i).watched)
    final = float(state.callback_state.states[0].mean_return[i])
    return [watched[it - 1] if it < t else final for it in range(EVERY, t + 1, EVERY)]


def _evaluate(policy, key):
    returns, _ = evaluate_policy(CartPole(), policy, num_episodes=EPISODES, key=key)
    return float(returns.mean()), float(returns.std())


def test_children_stop_at_the_first_evaluation_their_rule_holds(runs):
    batched, *_ = runs
    stops = []
    for i in range(4):
        means = np.asarray(_evaluations(batched, i))
        best = np.maximum.accumulate(np.concatenate([[-np.inf], means]))[:-1]
        new_best = means > best
        early = first(new_best & (means >= float(TARGET[i])))
        since, no_improvement = 0, []
        for improved in new_best:
            since = 0 if improved else since + 1
            no_improvement.append(since >= PATIENCE)
        late = first(no_improvement)
        expected = min(x * EVERY for x in (early, late, ITERATIONS // EVERY) if x is not None)
        assert int(batched.iteration[i]) == expected
        s = member(batched.callback_state.states[0], i)
        assert int(s.num_evals) == len(means)
        assert float(s.best_mean_return) == pytest.approx(means.max(), rel=1e-6)
        assert int(s.best_iteration) == (int(np.argmax(means)) + 1) * EVERY
        early_state, late_state = s.children.states[0], s.children.states[1].states[0]
        assert int(early_state.stopped) == (early is not None and early * EVERY == expected)
        assert int(late_state.stopped) == (late is not None and late * EVERY == expected)
        assert int(late_state.evaluations) == len(means)
        stops.append(expected)
    assert len(set(stops)) > 1, "the four seeds should stop at different evaluations"


def test_best_and_last_evaluations_equal_evaluate_policy(runs):
    batched, alone, *_ = runs
    for i in range(4):
        s = member(batched.callback_state.states[0], i)
        best, _ = _evaluate(s.best_policy, jr.fold_in(s.key, s.best_eval))
        # Evaluated here in its own program, not inside the vmapped training program:
        # float rounding (which on this 2-core CPU also varies with the machine's
        # load) may move an episode's end by a few steps (CartPole: return = length),
        # so the means may differ by up to one step over the 8 episodes.
        assert best == pytest.approx(float(s.best_mean_return), abs=1.0)
        last = _evaluate(member(batched.policy, i), jr.fold_in(s.key, s.num_evals - 1))
        np.testing.assert_allclose(last[0], s.mean_return, atol=1.0)
        np.testing.assert_allclose(last[1], s.std_return, atol=2.0)
        single = alone[i].callback_state.states[0]
        # The same run alone (not vmapped): the same allowance as above.
        np.testing.assert_allclose(single.best_mean_return, s.best_mean_return, atol=1.0)
        assert int(alone[i].iteration) == int(batched.iteration[i])
        for b, a in zip(
            jax.tree.leaves(s.best_policy), jax.tree.leaves(single.best_policy), strict=True
        ):
            np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4)


def test_one_line_per_evaluation_and_member(runs):
    batched, _, printed, _ = runs
    for i in range(4):
        lines = re.findall(
            rf"^\[{i}\] eval after iteration (\d+) .* over 4 episodes", printed, re.M
        )
        evaluated = list(range(EVERY, int(batched.iteration[i]) + 1, EVERY))
        assert [int(x) for x in lines] == evaluated
    children = [member(batched.callback_state.states[0], i).children for i in range(4)]
    early_stops = sum(int(c.states[0].stopped) for c in children)
    late_stops = sum(int(c.states[1].states[0].stopped) for c in children)
    assert early_stops + late_stops >= 1
    assert printed.count("EarlyStopping: mean episode return") == early_stops
    assert printed.count("StopOnNoImprovement:") == late_stops


def test_a_logging_child_logs_every_evaluation(runs):
    batched, *_, logged = runs
    for i in range(4):
        rows = re.findall(
            rf"^\[eval/seed_{i}\] step ([\d,]+)/.* train/eval/mean_return ([-\d.e+]+)$",
            logged,
            re.M,
        )
        steps = [int(step.replace(",", "")) for step, _ in rows]
        assert steps == [32 * it for it in range(EVERY, int(batched.iteration[i]) + 1, EVERY)]
        np.testing.assert_allclose([float(v) for _, v in rows], _evaluations(batched, i), rtol=1e-3)


def test_lines_cross_host_paced_and_every_line_arrives_in_order(monkeypatch, capsys):
    """An evaluation at every iteration: with the host asking for a crossing at every
    iteration, one crossing per evaluation; with the host asking for none, crossings
    only at the first evaluation, when 16 lines wait, and at the end. The same lines
    are printed either way, the last one holding the final state's evaluation."""
    env, iterations, channel = CartPole(), 40, "0/lerax.EvalCallback"

    def lines_and_calls(per_second):
        monkeypatch.setattr(_eval, "EVAL_LINES_PER_SECOND", per_second)
        callbacks = [EvalCallback(env, every=1, num_episodes=2)]
        before = host.host_calls(channel)
        state = ALGO.init(env, POLICY, 32 * iterations, key=jr.key(5), callback=callbacks)
        state = ALGO.train(state, callback=callbacks)
        lines = re.findall(r"^eval after iteration .*$", capsys.readouterr().out, re.M)
        return lines, host.host_calls(channel) - before, state.callback_state.states[0]

    every, calls_every, _ = lines_and_calls(1e9)
    paced, calls_paced, final = lines_and_calls(1e-3)
    assert calls_every == iterations
    assert calls_paced == 1 + 2 + 1  # iteration 1, full at 17 and 33, the end
    assert paced == every
    assert [int(re.search(r"iteration (\d+) ", line)[1]) for line in paced] == list(
        range(1, iterations + 1)
    )
    last = f"mean return {float(final.mean_return):.2f} +/- {float(final.std_return):.2f}"
    assert last in paced[-1]
    assert "(new best)" in paced[0]


def test_the_gate_computes_only_when_some_member_is_due():
    def run(x):
        return jnp.sin(x[0]) + x[1]

    def skip(x):
        return jnp.zeros(())

    xs = (jnp.arange(4.0), jnp.ones(4))
    due = jnp.asarray([True, False, True, False])
    out = jax.jit(jax.vmap(lambda d, x: run_if_due(d, run, skip, x)))(due, xs)
    np.testing.assert_allclose(out, jnp.where(due, jnp.sin(xs[0]) + 1, 0.0), rtol=1e-6)
    nested = jax.vmap(jax.vmap(lambda d, x: run_if_due(d, run, skip, x)))
    out2 = nested(due.reshape(2, 2), jax.tree.map(lambda a: a.reshape(2, 2), xs))
    np.testing.assert_allclose(out2.ravel(), out, rtol=1e-6)
    assert float(jax.jit(lambda: run_if_due(jnp.asarray(False), run, skip, (1.0, 2.0)))()) == 0.0
    # Under vmap a plain cond would become a select; the gate keeps an unbatched cond.
    jaxpr = str(jax.make_jaxpr(jax.vmap(lambda d, x: run_if_due(d, run, skip, x)))(due, xs))
    assert "cond[" in jaxpr


def test_arguments_are_checked_and_shown():
    env = CartPole()
    with pytest.raises(TypeError, match="eval_env"):
        EvalCallback("CartPole", every=1, num_episodes=1)
    with pytest.raises(ValueError, match="every"):
        EvalCallback(env, every=0, num_episodes=1)
    with pytest.raises(TypeError, match="num_episodes"):
        EvalCallback(env, every=1, num_episodes=2.0)
    with pytest.raises(TypeError, match="deterministic"):
        EvalCallback(env, every=1, num_episodes=1, deterministic="yes")
    with pytest.raises(TypeError, match="callback_after_eval"):
        EvalCallback(env, every=1, num_episodes=1, callback_after_eval=print)
    cb = EvalCallback(env, every=5, num_episodes=10, callback_on_new_best=EarlyStopping(475))
    assert repr(cb) == (
        "EvalCallback(CartPole-v1, every=5, num_episodes=10, deterministic=True, "
        "callback_on_new_best=EarlyStopping(target=475, patience=3))"
    )
    assert cb.config() == {
        "type": "EvalCallback",
        "eval_env": "CartPole-v1",
        "every": 5,
        "num_episodes": 10,
        "deterministic": True,
        "max_steps": None,
        "callback_on_new_best": {"type": "EarlyStopping", "target": 475.0, "patience": 3},
        "callback_after_eval": None,
    }
