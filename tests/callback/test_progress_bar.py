"""ProgressBarCallback: plain text and rich output, under jit, vmap and a real learn."""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax import host
from lerax.algorithm import PPO
from lerax.callback import TrainingContext
from lerax.callback.progress._progress_bar import ProgressBarCallback, ProgressBarState
from lerax.callback.progress._progress_display import END, ITERATION, START, close_all
from lerax.env import CartPole
from lerax.host import Pace
from lerax.policy import MLPActorCriticPolicy

ENV = CartPole()
POLICY = MLPActorCriticPolicy(env=ENV, key=jr.key(0))
ALGO = PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)
ITERATIONS = 10
TOTAL = ALGO.steps_per_iteration * ITERATIONS  # 320


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _learn(callback, key=None):
    key = jr.key(0) if key is None else key
    return ALGO.learn(ENV, POLICY, TOTAL, key=key, callback=callback)


def test_plain_text_in_a_real_learn_reports_every_10_percent_and_the_end():
    stream = io.StringIO()
    _learn(ProgressBarCallback(refresh_every=1, stream=stream))
    lines = stream.getvalue().splitlines()
    assert "\x1b" not in stream.getvalue()
    assert lines[0].startswith("PPO CartPole-v1: 0/320 steps (0%)") and "started" in lines[0]
    assert _percents(lines) == ["0%"] + [f"{p}%" for p in range(10, 100, 10)] + ["100%"]
    assert lines[-1].startswith("PPO CartPole-v1: 320/320 steps (100%)")
    assert lines[-1].endswith("| done") and "steps/s" in lines[-1]


def test_rich_bar_on_a_terminal_is_drawn_and_stopped():
    stream = FakeTerminal()
    _learn(ProgressBarCallback(stream=stream))
    out = stream.getvalue()
    assert "\x1b" in out, "a terminal gets the rich bar"
    final = out.rsplit("\r", 1)[-1]
    assert "320/320" in final and "100%" in final
    assert out.endswith("\x1b[?25h"), "the cursor is shown again: the bar was stopped"


def test_vmap_over_seeds_one_aggregate_bar_or_one_bar_per_member():
    keys = jr.split(jr.key(3), 3)
    channel = "0/progress"  # the bar is the first (only) callback of the list
    for per_member in (False, True):
        stream = io.StringIO()
        before = host.host_calls(channel)
        cb = ProgressBarCallback(per_member=per_member, refresh_every=1, stream=stream)
        jax.vmap(lambda k, cb=cb: _learn(cb, k))(keys)
        # one host call per event for the whole population: start, 10 iterations, end
        assert host.host_calls(channel) - before == ITERATIONS + 2
        lines = stream.getvalue().splitlines()
        assert "\x1b" not in stream.getvalue()
        if per_member:
            for i in range(3):
                mine = [line for line in lines if line.startswith(f"PPO CartPole-v1 seed_{i}:")]
                assert len(mine) == 11 and "320/320 steps (100%)" in mine[-1]
                assert mine[-1].endswith("done")
        else:
            assert all(line.startswith("PPO CartPole-v1 (3 runs): ") for line in lines)
            assert len(lines) == 11 and "320/320 steps (100%)" in lines[-1]


def _ctx(state, timesteps, iteration, stopped=False):
    return TrainingContext(
        state=state,
        step_state=None,
        env=ENV,
        policy=POLICY,
        iteration_count=jnp.asarray(iteration),
        num_timesteps=jnp.asarray(timesteps),
        num_episodes=jnp.asarray(0),
        stopped=jnp.asarray(stopped),
        total_timesteps=jnp.asarray(1000),
    )


def _hooks(cb):
    """Start, 10 iterations of 100 steps (a member stops after `stop_at`), end: the
    hooks called as the driver calls them (a loop carrying the state, which keeps the
    crossings in order; stopped members are inactive)."""

    def run(stop_at):
        with host.member_scope(host.member_witness(stop_at)):  # as the driver does
            return program(stop_at)

    def program(stop_at):
        s = cb.on_training_start(_ctx(cb.reset(None, key=jr.key(0)), 0, 0), key=jr.key(0))

        def body(s, i):
            done = jnp.minimum(i, stop_at)
            with host.active_scope(i <= stop_at):
                return cb.on_iteration(_ctx(s, 100 * done, done), key=jr.key(0)), None

        s, _ = jax.lax.scan(body, s, jnp.arange(1, 11))
        last = jnp.minimum(10, stop_at)
        return cb.on_training_end(_ctx(s, 100 * last, last, stop_at < 10), key=jr.key(0))

    return run


def _register(cb):
    for channel, receiver in cb.host_receivers({"algorithm": "A2C", "env": "Env"}).items():
        host.register(channel, receiver)


def _percents(lines):
    return [line.split("(")[-1].split(")")[0] for line in lines]


def test_hooks_under_jit_and_vmap_early_stop_is_reported_and_closed():
    stream = io.StringIO()
    cb = ProgressBarCallback(per_member=True, refresh_every=2, stream=stream)
    _register(cb)
    states = jax.jit(jax.vmap(_hooks(cb)))(jnp.asarray([4, 10]))
    jax.effects_barrier()
    assert isinstance(states, ProgressBarState) and states.ack.shape == (2,)
    lines = stream.getvalue().splitlines()
    stopped = [line for line in lines if line.startswith("A2C Env seed_0:")]
    full = [line for line in lines if line.startswith("A2C Env seed_1:")]
    # refresh_every=2: updates at iterations 2, 4, ...; seed_0 stops after 4
    assert _percents(stopped) == ["0%", "20%", "40%", "40%"]
    assert stopped[-1].startswith("A2C Env seed_0: 400/1000 steps (40%)")
    assert stopped[-1].endswith("stopped early")
    assert _percents(full) == ["0%", "20%", "40%", "60%", "80%", "100%"]
    assert full[-1].startswith("A2C Env seed_1: 1000/1000 steps (100%)")
    assert full[-1].endswith("done")


def test_aggregate_bar_counts_members_that_stopped():
    stream = io.StringIO()
    cb = ProgressBarCallback(refresh_every=1, stream=stream)
    _register(cb)
    jax.jit(jax.vmap(_hooks(cb)))(jnp.asarray([4, 10, 10]))
    jax.effects_barrier()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("A2C Env (3 runs): 0/1000 steps (0%)")
    assert lines[5].startswith("A2C Env (3 runs, 1 stopped): 500/1000 steps (50%)")
    assert lines[-1].startswith("A2C Env (3 runs, 1 stopped): 1000/1000 steps (100%)")
    assert lines[-1].endswith("done")


def test_rich_bar_marks_a_member_that_stopped_early(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")  # rich shortens labels on narrow terminals
    stream = FakeTerminal()
    cb = ProgressBarCallback(per_member=True, refresh_every=2, stream=stream)
    _register(cb)
    jax.jit(jax.vmap(_hooks(cb)))(jnp.asarray([4, 10]))
    jax.effects_barrier()
    final = stream.getvalue().rsplit("\r", 1)[-1]
    assert "A2C Env seed_0 (stopped early)" in final and "400/1000" in final
    assert "1000/1000" in final and stream.getvalue().endswith("\x1b[?25h")


def _event(kind, steps):
    rows = {"event": [kind], "timesteps": [steps], "total": [10], "iteration": [steps]}
    rows = {k: np.asarray(v) for k, v in rows.items()}
    return {**rows, "stopped": np.asarray([False])}, np.zeros((1, 0), np.int32)


def test_a_run_that_never_ends_is_closed_by_its_scope_or_at_exit():
    channel = ProgressBarCallback()._channel
    # a program reached training start, then was interrupted: only the start arrived
    first_stream = FakeTerminal()
    first = ProgressBarCallback(stream=first_stream).host_receivers({"env": "E"})[channel]
    first(*_event(START, 0))
    assert not first_stream.getvalue().endswith("\x1b[?25h"), "the bar is live"
    # the training call's run scope closes it when the call ends
    first.close_run(interrupted=True)
    closed = first_stream.getvalue()
    assert closed.endswith("\x1b[?25h") and "E (interrupted)" in closed
    plain_stream = io.StringIO()
    second = ProgressBarCallback(stream=plain_stream).host_receivers({"env": "E"})[channel]
    # a run left open at exit is closed by the atexit hook
    second(*_event(START, 0))
    second(*_event(ITERATION, 5))
    close_all()  # what atexit runs
    last = plain_stream.getvalue().splitlines()[-1]
    assert last.startswith("E: 5/10 steps (50%)") and last.endswith("| interrupted")
    second(*_event(END, 10))  # a late event after closing is ignored
    assert plain_stream.getvalue().splitlines()[-1] == last


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(refresh_every=0), ValueError, "refresh_every"),
        (dict(refresh_every=True), ValueError, "refresh_every"),
        (dict(per_member=1), TypeError, "per_member"),
        (dict(stream="stderr"), TypeError, "stream"),
    ],
)
def test_bad_arguments_raise_with_the_argument_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        ProgressBarCallback(**kwargs)


def test_host_only_settings_do_not_change_the_program_and_config():
    a = ProgressBarCallback(stream=io.StringIO(), per_member=True)
    b = ProgressBarCallback()
    same_program = jax.tree.structure(a) == jax.tree.structure(b)
    assert same_program, "stream and per_member are host-only: no retrace"
    assert jax.tree.structure(a) != jax.tree.structure(ProgressBarCallback(refresh_every=3))
    assert a.config() == {
        "type": "ProgressBarCallback",
        "per_member": True,
        "refresh_every": None,
        "updates_per_second": 10.0,
    }


def test_pace_turns_the_measured_rate_into_an_update_interval():
    pace = Pace(per_second=10.0)
    assert pace(0, 100.0, restart=True) == 1  # nothing measured yet
    assert pace(1, 100.01) == 10  # 100 iterations/s -> every 10th for 10 updates/s
    assert pace(11, 100.11) == 10
    assert pace(21, 101.11) == 1  # slowed to 10 iterations/s
    assert pace(22, 106.11) == 1  # slower than wanted: never below 1
    assert pace(22, 107.0) == 1  # no progress measured
    assert Pace(per_second=0.5)(0, 0.0) == 1


def test_host_paced_bar_crosses_less_often_than_every_iteration():
    """At an (impossibly) slow wanted rate the host asks for a long interval after
    its first measurement, so far fewer updates than iterations cross."""
    env = CartPole()
    algo = PPO(num_envs=2, num_steps=8, num_epochs=1, num_minibatches=1)
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    stream = io.StringIO()
    cb = ProgressBarCallback(stream=stream, updates_per_second=1e-6)
    before = host.host_calls("0/progress")
    state = algo.init(env, policy, 16 * 40, key=jr.key(1), callback=cb)
    state = algo.train(state, callback=cb)
    calls = host.host_calls("0/progress") - before
    assert int(state.iteration) == 40
    # start (no rate yet: interval 1), the first update (rate measured: interval
    # capped at 1e6 iterations), then only the end
    assert calls == 3, calls
    assert int(state.callback_state.states[0].next_update) > 40
    assert stream.getvalue().splitlines()[-1].startswith("PPO CartPole-v1: 640/640 steps (100%)")


def test_fixed_refresh_every_crosses_every_n_iterations():
    env = CartPole()
    algo = PPO(num_envs=2, num_steps=8, num_epochs=1, num_minibatches=1)
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    cb = ProgressBarCallback(stream=io.StringIO(), refresh_every=4)
    before = host.host_calls("0/progress")
    algo.learn(env, policy, 16 * 40, key=jr.key(1), callback=cb)
    assert host.host_calls("0/progress") - before == 1 + 40 // 4 + 1
