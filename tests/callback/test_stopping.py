"""EarlyStopping, StopOnNoImprovement, StopOnMaxEpisodes and NaNGuard inside real
`learn` calls, under jit and `jax.vmap` over seeds, against the rules in numpy."""

from __future__ import annotations

import contextlib
import io
import re

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from _stopping_helpers import (
    MAX_ITERATIONS,
    NaNRewardCartPole,
    Recorder,
    early_stopping_rule,
    first,
    member,
    no_improvement_rule,
)

from lerax.algorithm import PPO
from lerax.callback import (
    EarlyStopping,
    NaNGuard,
    StopOnMaxEpisodes,
    StopOnNoImprovement,
    StopReason,
)
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

ALGO = PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)
POLICY = MLPActorCriticPolicy(env=CartPole(), key=jr.key(0))
PPO_LOG = (
    "approx_kl",
    "clip_fraction",
    "entropy",
    "explained_variance",
    "learning_rate",
    "loss",
    "policy_loss",
    "value_loss",
)
PATIENCE, NI_PATIENCE, NI_MIN = 3, 10, 5
# Per member: EarlyStopping target, StopOnMaxEpisodes n, episode step at which the
# reward turns NaN. Chosen (from these seeds' returns) so that each member is stopped
# by a different rule; member 1's streak spans an iteration without episodes.
KEYS = jr.split(jr.key(0), 8)[:4]
TARGET = jnp.asarray([1e9, 25.0, 1e9, 1e9])
N = jnp.asarray([8, 10**6, 10**6, 10**6])
NAN_AT = jnp.asarray([10**6, 10**6, 30, 10**6])
RULES = ("early", "no_improvement", "max_episodes", "nan")


def _run(key, target, n, nan_at):
    env = NaNRewardCartPole(CartPole(), nan_at)
    callbacks = [
        Recorder(log_keys=PPO_LOG),
        EarlyStopping(target, patience=PATIENCE),
        StopOnNoImprovement(NI_PATIENCE, NI_MIN),
        StopOnMaxEpisodes(n),
        NaNGuard(),
    ]
    state = ALGO.init(env, POLICY, 32 * MAX_ITERATIONS, key=key, callback=callbacks)
    return ALGO.train(state, callback=callbacks)


@pytest.fixture(scope="module")
def runs():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        batched = jax.vmap(_run)(KEYS, TARGET, N, NAN_AT)
        printed_batched = out.getvalue()
        alone = [_run(KEYS[i], TARGET[i], N[i], NAN_AT[i]) for i in range(4)]
    return batched, alone, printed_batched, out.getvalue()[len(printed_batched) :]


def _expected(state, i):
    """First iteration at which each rule holds, from the recorder, in numpy."""
    rec = member(state.callback_state.states[0], i)
    means, counts = np.asarray(rec.mean_return), np.asarray(rec.count)
    non_finite = np.stack([~np.isfinite(np.asarray(rec.log[k])) for k in PPO_LOG]).any(0)
    return {
        "early": first(early_stopping_rule(means, counts, float(TARGET[i]), PATIENCE)),
        "no_improvement": first(no_improvement_rule(means, counts, NI_PATIENCE, NI_MIN)),
        "max_episodes": first(np.asarray(rec.num_episodes) >= int(N[i])),
        "nan": first(np.asarray(rec.nan_reward) | non_finite),
    }


def test_each_vmapped_member_stops_at_the_first_iteration_its_rules_hold(runs):
    batched, _, _, _ = runs
    stopped_by = []
    for i in range(4):
        expected = _expected(batched, i)
        stop = min(v for v in expected.values() if v is not None)
        assert int(batched.iteration[i]) == stop
        assert bool(batched.stopped[i])
        codes = (
            StopReason.TARGET_REACHED,
            StopReason.NO_IMPROVEMENT,
            StopReason.MAX_EPISODES,
            StopReason.NON_FINITE,
        )
        for rule, code, cb_state in zip(
            RULES, codes, batched.callback_state.states[1:], strict=True
        ):
            s = member(cb_state, i)
            holds = expected[rule] == stop
            assert bool(s.stopped) == holds, (i, rule)
            assert int(s.stop_iteration) == (stop if holds else -1)
            assert int(s.reason) == (code if holds else StopReason.NONE)
        stopped_by.append([r for r in RULES if expected[r] == stop])
    assert stopped_by == [["max_episodes"], ["early"], ["nan"], ["no_improvement"]]


def test_streak_state_and_best_return_match_numpy(runs):
    batched, _, _, _ = runs
    for i in range(4):
        rec = member(batched.callback_state.states[0], i)
        t = int(batched.iteration[i])
        means, counts = np.asarray(rec.mean_return)[:t], np.asarray(rec.count)[:t]
        early = member(batched.callback_state.states[1], i)
        measured = means[counts > 0]
        np.testing.assert_allclose(float(early.last_mean_return), measured[-1], rtol=1e-5)
        ni = member(batched.callback_state.states[2], i)
        assert int(ni.evaluations) == int((counts > 0).sum())
        finite = measured[np.isfinite(measured)]
        np.testing.assert_allclose(float(ni.best_mean_return), finite.max(), rtol=1e-5)


def test_each_member_alone_matches_the_vmapped_run(runs):
    batched, alone, _, _ = runs
    for i, single in enumerate(alone):
        assert int(single.iteration) == int(batched.iteration[i])
        assert int(single.num_episodes) == int(batched.num_episodes[i])
        for b, s in zip(
            batched.callback_state.states[1:], single.callback_state.states[1:], strict=True
        ):
            for name in ("stopped", "stop_iteration", "reason"):
                assert int(getattr(s, name)) == int(getattr(b, name)[i]), (i, name)


def test_nan_guard_records_the_first_non_finite_metric(runs):
    batched, alone, _, _ = runs
    names = NaNGuard.metric_name(batched.callback_state.states[4])
    assert names[0] is None and names[1] is None and names[3] is None
    rec = member(batched.callback_state.states[0], 2)
    t = int(batched.iteration[2])
    bad = [k for k in PPO_LOG if not np.isfinite(np.asarray(rec.log[k])[t - 1])]
    assert bad, "the NaN reward should reach the training metrics"
    assert names[2] == bad[0]
    assert NaNGuard.metric_name(alone[2].callback_state.states[4]) == bad[0]
    assert NaNGuard(ignore=[bad[0]]).names_for(dict.fromkeys(PPO_LOG))[-1] == "parameters"


def test_each_stop_is_reported_once_on_the_host(runs):
    batched, _, printed_batched, printed_alone = runs
    expected = {
        r"^\[0\] StopOnMaxEpisodes: \d+ episodes finished \(limit 8\)",
        r"^\[1\] EarlyStopping: mean episode return [\d.]+ >= target 25.00 3 times in a row",
        r"^\[2\] NaNGuard: non-finite .*explained_variance",
        r"^\[3\] StopOnNoImprovement: best mean episode return",
    }
    lines = printed_batched.strip().splitlines()
    assert len(lines) == 4, lines
    for pattern in expected:
        assert sum(bool(re.search(pattern, line)) for line in lines) == 1, pattern
    assert f"after iteration {int(batched.iteration[1])} (" in printed_batched
    assert len(printed_alone.strip().splitlines()) == 4
    assert not printed_alone.startswith("[")


def test_arguments_are_checked_and_shown():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(1.0, patience=0)
    with pytest.raises(TypeError, match="patience"):
        EarlyStopping(1.0, patience=2.5)
    with pytest.raises(TypeError, match="target"):
        EarlyStopping("high")
    with pytest.raises(ValueError, match="target"):
        EarlyStopping(float("nan"))
    with pytest.raises(ValueError, match="min_iterations"):
        StopOnNoImprovement(3, -1)
    with pytest.raises(TypeError, match="patience"):
        StopOnNoImprovement(True)
    with pytest.raises(ValueError, match="`n`"):
        StopOnMaxEpisodes(0)
    with pytest.raises(TypeError, match="`n`"):
        StopOnMaxEpisodes(2.5)
    with pytest.raises(TypeError, match="ignore"):
        NaNGuard(ignore="loss")
    assert repr(EarlyStopping(475, patience=3)) == "EarlyStopping(target=475, patience=3)"
    assert EarlyStopping(475).config() == {"type": "EarlyStopping", "target": 475.0, "patience": 3}
    assert repr(StopOnNoImprovement(4, 2)) == "StopOnNoImprovement(patience=4, min_iterations=2)"
    assert StopOnNoImprovement(4).config() == {
        "type": "StopOnNoImprovement",
        "patience": 4,
        "min_iterations": 0,
    }
    assert repr(StopOnMaxEpisodes(100)) == "StopOnMaxEpisodes(n=100)"
    assert StopOnMaxEpisodes(100).config() == {"type": "StopOnMaxEpisodes", "n": 100}
    assert repr(NaNGuard()) == "NaNGuard(ignore=[])"
    assert NaNGuard(ignore=("a",)).config() == {"type": "NaNGuard", "ignore": ["a"]}


def test_ppo_on_cartpole_stops_when_it_solves_it():
    """PPO() defaults on CartPole, seed 0 (policy and run key): a mean return of 475+
    three iterations in a row at iteration 136 of the 256 that 2**17 steps allow
    (seeds 1, 2, 3, 4, 5: not within the budget, 171, 61, 167, not within the budget;
    the iteration moves with float rounding)."""
    env, algo = CartPole(), PPO()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    callback = [EarlyStopping(475.0, patience=3)]
    state = algo.init(env, policy, 2**17, key=jr.key(0), callback=callback)
    state = algo.train(state, callback=callback)
    early = state.callback_state.states[0]
    assert bool(state.stopped) and bool(early.stopped)
    assert int(early.stop_iteration) == int(state.iteration) < int(state.total_iterations)
    assert float(early.last_mean_return) >= 475.0
