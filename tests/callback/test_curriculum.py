"""Curricula: schedules, ScheduledCurriculum and LevelCurriculum inside real `learn` /
`train` calls, under jit and `jax.vmap` over seeds, with the env parameter the envs
actually stepped with measured from their dynamics, and the logged values read back
from SQLite."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from _stopping_helpers import MAX_ITERATIONS, Recorder, member

from lerax.algorithm import PPO
from lerax.callback import (
    AbstractCallbackStepState,
    AbstractStepCallback,
    CallbackList,
    CosineSchedule,
    EveryN,
    LevelCurriculum,
    LinearSchedule,
    LoggingCallback,
    ScheduledCurriculum,
    ScheduledCurriculumState,
    SQLiteBackend,
    StepSchedule,
    load_metrics,
)
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

ENV = CartPole()
ALGO = PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)
POLICY = MLPActorCriticPolicy(env=ENV, key=jr.key(0), hidden=(16,))
ITERATIONS = 12
BUDGET = ITERATIONS * ALGO.steps_per_iteration


def gravity(env):
    return env.gravity


def gravity_and_length(env):
    return (env.gravity, env.length)


def force(env):
    return env.force_mag


# ----------------------------------------------------------------- a dynamics probe


class ProbeStepState(AbstractCallbackStepState):
    seen: jnp.ndarray  # (MAX_ITERATIONS,) ctx.env.gravity during iteration i
    g_sum: jnp.ndarray  # sum of the gravities inferred from the transitions
    g_count: jnp.ndarray


class GravityProbe(AbstractStepCallback[ProbeStepState]):
    """Per env and iteration: the gravity of `ctx.env`, and the gravity that explains
    the observed CartPole transitions (solved from the pole's angular acceleration,
    with the other parameters at their defaults). The second never reads the env."""

    def step_reset(self, ctx, *, key):
        zeros = jnp.zeros((MAX_ITERATIONS,))
        return ProbeStepState(jnp.full((MAX_ITERATIONS,), jnp.nan), zeros, zeros)

    def on_step(self, ctx, *, key):
        s, i = ctx.state, ctx.iteration_count
        _, _, theta, theta_dot = ctx.observation
        next_theta_dot = ctx.next_observation[3]
        masspole, total_mass, length, tau = 0.1, 1.1, 0.5, 0.02
        push = jnp.where(ctx.action == 1, 10.0, -10.0)
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        temp = (push + masspole * length * theta_dot**2 * sin) / total_mass
        theta_acc = (next_theta_dot - theta_dot) / tau
        g = (theta_acc * length * (4.0 / 3.0 - masspole * cos**2 / total_mass) + cos * temp) / sin
        usable = jnp.abs(sin) > 0.02  # well conditioned
        return ProbeStepState(
            seen=s.seen.at[i].set(ctx.env.gravity),
            g_sum=s.g_sum.at[i].add(jnp.where(usable, g, 0.0)),
            g_count=s.g_count.at[i].add(usable.astype(jnp.float32)),
        )


def probe_results(step_state, iterations):
    """`(seen, inferred)`: per env and iteration the env's gravity, and per iteration
    the gravity inferred from the dynamics over all envs."""
    seen = np.asarray(step_state.seen)[..., :iterations]
    g_sum = np.asarray(step_state.g_sum)[..., :iterations].sum(-2)
    g_count = np.asarray(step_state.g_count)[..., :iterations].sum(-2)
    with np.errstate(invalid="ignore"):  # NaN where a resumed probe saw nothing
        return seen, g_sum / g_count


def level_rule(counts, means, thresholds, window, min_episodes, num_levels, mode="max"):
    """The level each iteration trained with, and the iteration count at which each
    level was entered, re-derived in numpy from per-iteration episode counts/means."""
    level, sums, cnts, used, entered = 0, [], [], [], [0] + [-1] * (num_levels - 1)
    for i, (count, mean) in enumerate(zip(counts, means, strict=True), start=1):
        used.append(level)
        sums.append(mean * count if count else 0.0)
        cnts.append(count)
        sums, cnts = sums[-window:], cnts[-window:]
        total = sum(cnts)
        if len(cnts) == window and total >= min_episodes and level < num_levels - 1:
            metric = sum(sums) / total
            t = thresholds[min(level, num_levels - 2)]
            if (metric >= t) if mode == "max" else (metric <= t):
                level += 1
                entered[level] = i
                sums, cnts = [], []
    return np.array(used), np.array(entered), level


# ----------------------------------------------------------------- schedules


def test_linear_schedule_values():
    s = LinearSchedule(2.0, 10.0)
    for p, want in [(0.0, 2.0), (0.25, 4.0), (0.5, 6.0), (1.0, 10.0), (1.5, 10.0), (-1.0, 2.0)]:
        assert float(s(p)) == pytest.approx(want, abs=1e-6)


def test_cosine_schedule_values():
    s = CosineSchedule(2.0, 10.0)
    for p in (0.0, 0.25, 0.5, 0.75, 1.0):
        want = 2.0 + 8.0 * (1 - math.cos(math.pi * p)) / 2
        assert float(s(p)) == pytest.approx(want, abs=1e-5)
    assert float(s(0.5)) == pytest.approx(6.0, abs=1e-5)


def test_step_schedule_values():
    s = StepSchedule([0.25, 0.5], [9.8, 12.0, 15.0])
    for p, want in [(0.0, 9.8), (0.2499, 9.8), (0.25, 12.0), (0.49, 12.0), (0.5, 15.0), (1, 15.0)]:
        assert float(s(p)) == pytest.approx(want, abs=1e-6)


def test_array_valued_schedules_broadcast():
    s = LinearSchedule(jnp.array([0.0, 1.0]), 2.0)
    np.testing.assert_allclose(s(0.5), [1.0, 1.5])


def test_schedules_under_jit_and_vmap_over_their_values():
    progress = jnp.linspace(0.0, 1.0, 5)
    values = jax.jit(jax.vmap(LinearSchedule(1.0, 3.0)))(progress)
    np.testing.assert_allclose(values, [1.0, 1.5, 2.0, 2.5, 3.0], atol=1e-6)
    ends = jnp.array([3.0, 5.0])
    at_half = jax.jit(jax.vmap(lambda e: CosineSchedule(1.0, e)(0.5)))(ends)
    np.testing.assert_allclose(at_half, [2.0, 3.0], atol=1e-6)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: LinearSchedule(float("nan"), 1.0), ValueError, "start"),
        (lambda: LinearSchedule(True, 1.0), TypeError, "start"),
        (lambda: CosineSchedule(0.0, "high"), TypeError, "end"),
        (lambda: LinearSchedule(jnp.zeros(2), jnp.zeros(3)), ValueError, "broadcast"),
        (lambda: StepSchedule([0.5, 0.25], [1.0, 2.0, 3.0]), ValueError, "increasing"),
        (lambda: StepSchedule([0.5, 1.5], [1.0, 2.0, 3.0]), ValueError, r"\[0, 1\]"),
        (lambda: StepSchedule([0.5], [1.0, 2.0, 3.0]), ValueError, "len"),
        (lambda: StepSchedule("0.5", [1.0, 2.0]), TypeError, "sequences"),
    ],
)
def test_bad_schedules(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ----------------------------------------------------------------- the env hook


def test_update_env_sets_the_selected_parameter_under_jit_and_vmap():
    schedule = (LinearSchedule(1.0, 3.0), StepSchedule([0.5], [0.5, 1.0]))
    cb = ScheduledCurriculum(gravity_and_length, schedule)

    def state_at(p):
        return ScheduledCurriculumState(p, (schedule[0](p), schedule[1](p)))

    states = jax.vmap(state_at)(jnp.array([0.0, 0.5, 1.0]))
    envs = jax.jit(jax.vmap(lambda s: cb.update_env(ENV, s)))(states)
    np.testing.assert_allclose(envs.gravity, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(envs.length, [0.5, 1.0, 1.0])
    np.testing.assert_allclose(envs.masscart, [1.0, 1.0, 1.0])  # untouched
    assert envs.gravity.dtype == jnp.float32
    assert jax.tree.structure(cb.update_env(ENV, state_at(0.3))) == jax.tree.structure(ENV)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: ScheduledCurriculum("gravity", LinearSchedule(1, 2)), TypeError, "where"),
        (lambda: ScheduledCurriculum(gravity, 3.0), TypeError, "schedule"),
        (lambda: ScheduledCurriculum(gravity, LinearSchedule(1, 2), name=""), TypeError, "name"),
        (lambda: LevelCurriculum(gravity, [1.0], "episode_return", 1.0), ValueError, "two"),
        (lambda: LevelCurriculum(gravity, [], "episode_return", 1.0), ValueError, "two"),
        (lambda: LevelCurriculum(gravity, "abc", "episode_return", 1.0), TypeError, "levels"),
        (lambda: LevelCurriculum(gravity, [1.0, 2.0], "reward", 1.0), ValueError, "metric"),
        (
            lambda: LevelCurriculum(gravity, [1, 2], "episode_return", 1.0, mode="up"),
            ValueError,
            "mode",
        ),
        (
            lambda: LevelCurriculum(gravity, [1, 2, 3], "episode_return", [1.0]),
            ValueError,
            "threshold",
        ),
        (
            lambda: LevelCurriculum(gravity, [1, 2], "episode_return", float("nan")),
            ValueError,
            "NaN",
        ),
        (
            lambda: LevelCurriculum(gravity, [1, 2], "episode_return", "high"),
            TypeError,
            "threshold",
        ),
        (
            lambda: LevelCurriculum(gravity, [1, 2], "episode_return", 1.0, window=0),
            ValueError,
            "window",
        ),
        (
            lambda: LevelCurriculum(gravity, [1, (2, 3)], "episode_return", 1.0),
            ValueError,
            "structure",
        ),
    ],
)
def test_bad_curriculum_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    "callback, error, match",
    [
        # `max_episode_steps` is a static int, not an array parameter
        (
            ScheduledCurriculum(lambda e: e.max_episode_steps, LinearSchedule(1, 2)),
            TypeError,
            "array",
        ),
        (ScheduledCurriculum(lambda e: e.no_such_field, LinearSchedule(1, 2)), TypeError, "where"),
        (ScheduledCurriculum(gravity_and_length, LinearSchedule(1, 2)), ValueError, "structure"),
        (ScheduledCurriculum(gravity, LinearSchedule(jnp.zeros(2), 1.0)), ValueError, "shape"),
        (LevelCurriculum(gravity, jnp.zeros((2, 3)), "episode_return", 1.0), ValueError, "shape"),
        (
            CallbackList([ScheduledCurriculum(gravity, LinearSchedule(1, 2))] * 2),
            ValueError,
            "distinct names",
        ),
    ],
)
def test_mismatches_with_the_env_are_reported_when_training_starts(callback, error, match):
    with pytest.raises(error, match=match):
        ALGO.learn(ENV, POLICY, BUDGET, key=jr.key(0), callback=callback)


# ----------------------------------------------------------------- inside learn / train


def test_scheduled_curriculum_changes_the_dynamics_and_is_logged(tmp_path):
    schedule = LinearSchedule(5.0, 15.0)
    db = tmp_path / "runs.db"
    callbacks = [
        GravityProbe(),
        ScheduledCurriculum(gravity, schedule),
        Recorder(log_keys=("curriculum/value",)),
        LoggingCallback(SQLiteBackend(path=db), name="scheduled"),
    ]
    state = ALGO.init(ENV, POLICY, BUDGET, key=jr.key(1), callback=callbacks)
    assert float(state.env.gravity) == pytest.approx(9.8)  # applied when training starts
    full = ALGO.train(state, callback=callbacks)
    want = np.array([float(schedule(k / ITERATIONS)) for k in range(ITERATIONS)])
    assert want[0] == 5.0 and want[-1] > 14.0

    seen, inferred = probe_results(full.callback_step_state.step_states[0], ITERATIONS)
    for env_index in range(ALGO.num_envs):
        np.testing.assert_allclose(seen[env_index], want, rtol=1e-6)
    np.testing.assert_allclose(inferred, want, rtol=2e-2)  # the envs really used it
    recorder = full.callback_state.states[2]
    np.testing.assert_allclose(recorder.log["curriculum/value"][:ITERATIONS], want, rtol=1e-6)
    assert float(full.env.gravity) == pytest.approx(15.0)  # progress 1 after the last one
    assert float(full.env.length) == pytest.approx(0.5)

    steps, values = load_metrics(db, "scheduled")["train/curriculum/value"]
    np.testing.assert_array_equal(steps, ALGO.steps_per_iteration * np.arange(1, ITERATIONS + 1))
    np.testing.assert_allclose(values, want, rtol=1e-6)

    # Stopping half way and resuming with fresh callback states continues the schedule
    # and trains exactly the same policy.
    callbacks = callbacks[:3]
    half = ALGO.train(ALGO.with_callbacks(state, callbacks), ITERATIONS // 2, callback=callbacks)
    assert float(half.env.gravity) == pytest.approx(10.0)
    resumed = ALGO.train(ALGO.with_callbacks(half, callbacks), callback=callbacks)
    seen, _ = probe_results(resumed.callback_step_state.step_states[0], ITERATIONS)
    np.testing.assert_allclose(seen[0, ITERATIONS // 2 :], want[ITERATIONS // 2 :], rtol=1e-6)
    for a, b in zip(jax.tree.leaves(resumed.policy), jax.tree.leaves(full.policy), strict=True):
        np.testing.assert_array_equal(a, b)


def test_several_parameters_with_a_step_and_a_cosine_schedule():
    schedule = (CosineSchedule(9.8, 4.0), StepSchedule([0.5], [0.5, 0.8]))
    callbacks = [GravityProbe(), ScheduledCurriculum(gravity_and_length, schedule, name="c")]
    state = ALGO.init(ENV, POLICY, BUDGET, key=jr.key(2), callback=callbacks)
    state = ALGO.train(state, callback=callbacks)
    seen, _ = probe_results(state.callback_step_state.step_states[0], ITERATIONS)
    want = [float(schedule[0](k / ITERATIONS)) for k in range(ITERATIONS)]
    np.testing.assert_allclose(seen[1], want, rtol=1e-6)
    assert float(state.env.length) == pytest.approx(0.8)
    assert float(state.env.gravity) == pytest.approx(4.0)


def test_level_curriculum_follows_the_rule_and_is_logged(tmp_path):
    levels, thresholds, window = [5.0, 9.8, 15.0], [18.0, 22.0], 2
    db = tmp_path / "runs.db"
    callbacks = [
        GravityProbe(),
        LevelCurriculum(gravity, levels, "episode_return", thresholds, window=window),
        # CartPole's reward is 1 per step: episode length == return, same levels.
        LevelCurriculum(
            force, [10.0, 11.0, 12.0], "episode_length", thresholds, window=window, name="f"
        ),
        Recorder(log_keys=("curriculum/level", "curriculum/value", "f/level")),
        LoggingCallback(SQLiteBackend(path=db), name="levels"),
    ]
    state = ALGO.init(ENV, POLICY, 2 * BUDGET, key=jr.key(3), callback=callbacks)
    state = ALGO.train(state, callback=callbacks)
    n = 2 * ITERATIONS
    recorder = state.callback_state.states[3]
    counts = np.asarray(recorder.count)[:n]
    means = np.asarray(recorder.mean_return)[:n]
    used, entered, final = level_rule(counts, means, thresholds, window, 1, 3)
    # The rule advanced, and held back at least once on a measured (full) window.
    assert final > 0 and entered[1] > window

    cur, f = state.callback_state.states[1], state.callback_state.states[2]
    np.testing.assert_array_equal(cur.entered, entered)
    np.testing.assert_array_equal(f.entered, entered)
    assert int(cur.level) == final
    np.testing.assert_array_equal(recorder.log["curriculum/level"][:n], used)
    np.testing.assert_array_equal(recorder.log["f/level"][:n], used)
    np.testing.assert_allclose(recorder.log["curriculum/value"][:n], np.array(levels)[used])

    seen, inferred = probe_results(state.callback_step_state.step_states[0], n)
    np.testing.assert_allclose(seen[0], np.array(levels)[used], rtol=1e-6)
    assert float(state.env.gravity) == levels[final]
    assert float(state.env.force_mag) == [10.0, 11.0, 12.0][final]
    # The inferred gravity assumes force 10: check it on the level-0 iterations only.
    np.testing.assert_allclose(inferred[used == 0], levels[0], rtol=2e-2)

    metrics = load_metrics(db, "levels")
    np.testing.assert_array_equal(metrics["train/curriculum/level"][1], used)
    np.testing.assert_allclose(metrics["train/curriculum/value"][1], np.array(levels)[used])


def test_level_curriculum_under_vmap_each_member_its_own_level():
    levels = [5.0, 9.8, 15.0]

    def run(key, threshold):
        callbacks = [
            GravityProbe(),
            LevelCurriculum(gravity, levels, "episode_return", threshold),
            Recorder(),
            # Lower is better, over 3 iterations with at least 4 episodes.
            LevelCurriculum(
                force,
                [10.0, 10.5, 11.0],
                "episode_length",
                [25.0, 20.0],
                window=3,
                min_episodes=4,
                mode="min",
                name="f",
            ),
        ]
        state = ALGO.init(ENV, POLICY, BUDGET, key=key, callback=callbacks)
        return ALGO.train(state, callback=callbacks)

    thresholds = jnp.array([0.0, 1e9])  # member 0 advances at once, member 1 never
    states = jax.vmap(run)(jr.split(jr.key(4), 2), thresholds)
    assert states.env.gravity.shape == (2,)
    min_finals = []
    for i in range(2):
        s = member(states, i)
        recorder = s.callback_state.states[2]
        counts = np.asarray(recorder.count)[:ITERATIONS]
        means = np.asarray(recorder.mean_return)[:ITERATIONS]
        used, entered, final = level_rule(counts, means, [float(thresholds[i])] * 2, 1, 1, 3)
        np.testing.assert_array_equal(s.callback_state.states[1].entered, entered)
        seen, _ = probe_results(s.callback_step_state.step_states[0], ITERATIONS)
        np.testing.assert_allclose(seen, np.broadcast_to(np.array(levels)[used], seen.shape))
        assert float(s.env.gravity) == levels[final]
        used, entered, final = level_rule(counts, means, [25.0, 20.0], 3, 4, 3, mode="min")
        np.testing.assert_array_equal(s.callback_state.states[3].entered, entered)
        assert float(s.env.force_mag) == [10.0, 10.5, 11.0][final]
        min_finals.append(final)
    assert int(member(states, 0).callback_state.states[1].level) == 2
    assert int(member(states, 1).callback_state.states[1].level) == 0
    assert max(min_finals) > 0


TRACES = []


class CountTraces(GravityProbe):
    """A `GravityProbe` that counts how often the program is traced."""

    def step_reset(self, ctx, *, key):
        TRACES.append(1)
        return GravityProbe.step_reset(self, ctx, key=key)


def _ramp_to(end):
    return [CountTraces(), ScheduledCurriculum(gravity, LinearSchedule(5.0, end))]


def test_scheduled_curriculum_under_vmap_over_the_schedule():
    def run(end, key):
        state = ALGO.init(ENV, POLICY, BUDGET, key=key, callback=_ramp_to(end))
        return ALGO.train(state, callback=_ramp_to(end))

    states = jax.vmap(run)(jnp.array([5.0, 25.0]), jr.split(jr.key(5), 2))
    seen, _ = probe_results(states.callback_step_state.step_states[0], ITERATIONS)
    np.testing.assert_allclose(seen[0], 5.0)
    want = [5.0 + 20.0 * k / ITERATIONS for k in range(ITERATIONS)]
    np.testing.assert_allclose(seen[1, 0], want, rtol=1e-6)
    np.testing.assert_allclose(states.env.gravity, [5.0, 25.0])


def test_another_schedule_value_does_not_retrace_learn():
    policy = ALGO.learn(ENV, POLICY, BUDGET, key=jr.key(6), callback=_ramp_to(10.0))
    traced = len(TRACES)
    ALGO.learn(ENV, policy, BUDGET, key=jr.key(7), callback=_ramp_to(20.0))
    assert traced > 0 and len(TRACES) == traced


def test_every_n_passes_the_env_update_through():
    schedule = LinearSchedule(5.0, 15.0)
    callbacks = [GravityProbe(), EveryN(ScheduledCurriculum(gravity, schedule), iterations=3)]
    state = ALGO.init(ENV, POLICY, BUDGET, key=jr.key(8), callback=callbacks)
    state = ALGO.train(state, callback=callbacks)
    seen, _ = probe_results(state.callback_step_state.step_states[0], ITERATIONS)
    # Updated at the start and after iterations 3, 6, 9: constant in blocks of 3.
    want = [float(schedule(3 * (k // 3) / ITERATIONS)) for k in range(ITERATIONS)]
    np.testing.assert_allclose(seen[0], want, rtol=1e-6)


def test_curriculum_config_is_json_friendly():
    cb = LevelCurriculum(gravity, [1.0, 2.0], "episode_return", 3.0, window=2)
    config = cb.config()
    assert config["type"] == "LevelCurriculum"
    assert config["levels"] == [1.0, 2.0] and config["threshold"] == [3.0]
    assert config["window"] == 2 and config["metric"] == "episode_return"
