"""Every built-in callback with every algorithm, under jit and under `jax.vmap` over 2
seeds, checked through what the callback leaves behind: values read back from SQLite
(SQL) and TensorBoard (its own event reader), checkpoints loaded back, evaluation
results recomputed with `evaluate_policy`, mp4 files decoded, printed progress, and
the iteration at which each stopping rule ended the run.

To keep the matrix to a few minutes, each (algorithm, mode) compiles two programs:

* the OUTPUT run: LoggingCallback (SQLite + TensorBoard), SaveCheckpoints (with the
  replay buffer for DQN and SAC), EvalCallback, ProgressBarCallback, RecordVideos,
  EveryN(PrintProgress), PrintProgress and NaNGuard together, plus an independent
  `Recorder` (tests/callback/_stopping_helpers.py) as the reference;
* the STOPPING run: EarlyStopping, StopOnNoImprovement, StopOnMaxEpisodes and NaNGuard
  with the `Recorder`, on an env whose reward turns NaN at a traced episode step. The
  target, the episode limit and the NaN step are traced, so four scenarios (one for
  each rule to stop the run first) reuse the one compiled program.

Each parametrised test then checks one callback's observable output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import sqlite3
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from _stopping_helpers import (
    Recorder,
    RecorderState,
    RecorderStepState,
    early_stopping_rule,
    first,
    no_improvement_rule,
)

from lerax.algorithm import A2C, DQN, PPO, SAC
from lerax.callback import (
    EarlyStopping,
    EvalCallback,
    EveryN,
    LoggingCallback,
    NaNGuard,
    PrintProgress,
    ProgressBarCallback,
    RecordVideos,
    SaveCheckpoints,
    SQLiteBackend,
    StopOnMaxEpisodes,
    StopOnNoImprovement,
    StopReason,
    TensorBoardBackend,
)
from lerax.callback.logging import load_metrics
from lerax.checkpoint import BufferNotSaved, load, register
from lerax.env import AbstractEnv, CartPole, Pendulum, TimeLimit
from lerax.policy import MLPActorCriticPolicy, MLPQPolicy, MLPSACPolicy, evaluate_policy

# The checkpoints hold the test's own Recorder states: loading them without a template
# needs the explicit registration `lerax.checkpoint.load` asks for (no pickle).
register(RecorderState, RecorderStepState)

pytestmark = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # ffmpeg fork+exec
iio = pytest.importorskip("imageio.v3")
pytest.importorskip("imageio_ffmpeg")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

NUM_ENVS, PER_ENV = 2, 8
PER_ITERATION = NUM_ENVS * PER_ENV  # 16 env steps per iteration, every algorithm
ITERATIONS = 12  # output run
STOP_ITERATIONS = 30  # stopping run budget (< the Recorder's 40 slots)
SEEDS = jr.split(jr.key(7), 2)
OFF_POLICY = dict(
    num_envs=NUM_ENVS,
    train_freq=PER_ENV,
    buffer_size=512,
    batch_size=32,
    learning_starts=32,
    gradient_steps=2,
)
# Episode-level output needs episodes that end within a few iterations: Pendulum's
# 200-step episodes are cut to 24 steps.
PENDULUM = TimeLimit(Pendulum(), 24)


@dataclasses.dataclass(frozen=True)
class Setup:
    algo: Any
    env: AbstractEnv
    policy: Any
    log_keys: tuple[str, ...]  # the algorithm's training-log keys

    @property
    def off_policy(self) -> bool:
        return isinstance(self.algo, DQN | SAC)


def _setup(name: str) -> Setup:
    on_policy_keys = ("loss", "policy_loss", "value_loss", "entropy", "explained_variance")
    if name == "PPO":
        algo = PPO(num_envs=NUM_ENVS, num_steps=PER_ENV, num_epochs=1, num_minibatches=1)
        return Setup(
            algo,
            CartPole(),
            MLPActorCriticPolicy(env=CartPole(), key=jr.key(0)),
            on_policy_keys + ("approx_kl", "clip_fraction", "learning_rate"),
        )
    if name == "A2C":
        algo = A2C(num_envs=NUM_ENVS, num_steps=PER_ENV)
        return Setup(
            algo,
            CartPole(),
            MLPActorCriticPolicy(env=CartPole(), key=jr.key(0)),
            on_policy_keys + ("learning_rate",),
        )
    if name == "DQN":
        algo = DQN(**OFF_POLICY)
        policy = MLPQPolicy(env=CartPole(), key=jr.key(0))
        return Setup(algo, CartPole(), policy, ("loss", "q_value", "epsilon", "buffer_size"))
    algo = SAC(**OFF_POLICY)
    policy = MLPSACPolicy(env=PENDULUM, key=jr.key(0), hidden=(64, 64))
    keys = ("critic_loss", "actor_loss", "alpha_loss", "q_value", "entropy", "alpha")
    return Setup(algo, PENDULUM, policy, keys + ("buffer_size",))


ALGORITHMS = ("PPO", "A2C", "DQN", "SAC")
MODES = ("jit", "vmap")
CASES = [(a, m) for a in ALGORITHMS for m in MODES]
IDS = [f"{a}-{m}" for a, m in CASES]


def _members(tree, mode: str) -> list:
    """The per-seed views of a result: itself under jit, each member under vmap."""
    if mode == "jit":
        return [tree]
    return [jax.tree.map(lambda x, i=i: x[i], tree) for i in range(len(SEEDS))]


def _run(setup: Setup, mode: str, callbacks, total: int, env=None):
    env = setup.env if env is None else env

    def one(key):
        state = setup.algo.init(env, setup.policy, total, key=key, callback=callbacks)
        return setup.algo.train(state, callback=callbacks)

    return one(SEEDS[0]) if mode == "jit" else jax.vmap(one)(SEEDS)


# ----------------------------------------------------------------- the output run


@dataclasses.dataclass
class OutputRun:
    setup: Setup
    mode: str
    root: Any
    state: Any
    printed: str
    bar: str

    def members(self):
        return _members(self.state, self.mode)

    def label(self, i: int) -> str:
        """The per-member sub-directory / run-name suffix ('' under jit)."""
        return "" if self.mode == "jit" else f"seed_{i}"


EVAL_EVERY, EVAL_EPISODES = 4, 3
SAVE_EVERY = 5
VIDEO_EVERY, VIDEO_STEPS, W, H = 6, 6, 32, 24
EVERY_N, PRINT_EVERY = 3, 5
(REC, LOG, SAVE, EVAL, BAR, VIDEO, EVERYN, PRINT, GUARD) = range(9)


def _output_callbacks(setup: Setup, root, bar_stream) -> list:
    return [
        Recorder(log_keys=setup.log_keys),
        LoggingCallback(
            [TensorBoardBackend(log_dir=root / "tb"), SQLiteBackend(path=root / "runs.db")],
            name="matrix",
        ),
        SaveCheckpoints("ckpt", frequency=SAVE_EVERY, buffer=setup.off_policy, root=root),
        EvalCallback(setup.env, every=EVAL_EVERY, num_episodes=EVAL_EPISODES),
        ProgressBarCallback(stream=bar_stream),
        RecordVideos(
            "videos", frequency=VIDEO_EVERY, root=root, num_steps=VIDEO_STEPS, width=W, height=H
        ),
        EveryN(PrintProgress(every=1), iterations=EVERY_N),
        PrintProgress(every=PRINT_EVERY),
        NaNGuard(),
    ]


_OUTPUT_RUNS: dict = {}


@pytest.fixture(params=CASES, ids=IDS)
def output_run(request, tmp_path_factory) -> OutputRun:
    if request.param not in _OUTPUT_RUNS:
        name, mode = request.param
        setup = _setup(name)
        root = tmp_path_factory.mktemp(f"{name}-{mode}")
        bar = io.StringIO()
        callbacks = _output_callbacks(setup, root, bar)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            state = _run(setup, mode, callbacks, PER_ITERATION * ITERATIONS)
        _OUTPUT_RUNS[request.param] = OutputRun(
            setup, mode, root, state, printed.getvalue(), bar.getvalue()
        )
    return _OUTPUT_RUNS[request.param]


def _recorded(run: OutputRun, state):
    """The independent recorder's per-iteration values for one member."""
    return state.callback_state.states[REC]


def test_the_output_run_ran_its_whole_budget(output_run):
    for state in output_run.members():
        assert int(state.iteration) == ITERATIONS
        assert int(state.num_timesteps) == ITERATIONS * PER_ITERATION
        assert not bool(state.stopped)
        assert int(state.num_episodes) > 0
        guard = state.callback_state.states[GUARD]
        assert int(guard.stop_iteration) == -1 and int(guard.reason) == StopReason.NONE


def _tensorboard(run_dir):
    acc = event_accumulator.EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return acc


def test_logging_sqlite_and_tensorboard_hold_the_recorded_values(output_run):
    run, setup = output_run, output_run.setup
    db = run.root / "runs.db"
    with sqlite3.connect(db) as connection:
        names = {n for (n,) in connection.execute("SELECT name FROM runs")}
        statuses = {s for (s,) in connection.execute("SELECT status FROM runs")}
        hparams = json.loads(
            connection.execute("SELECT hparams FROM runs ORDER BY id LIMIT 1").fetchone()[0]
        )
    expected = {"matrix"} if run.mode == "jit" else {"matrix/seed_0", "matrix/seed_1"}
    assert expected <= names and statuses == {"finished"}
    assert any(type(setup.algo).__name__ in str(v) for v in hparams.values()) or hparams
    steps = [PER_ITERATION * (i + 1) for i in range(ITERATIONS)]
    for i, state in enumerate(run.members()):
        name = "matrix" if run.mode == "jit" else f"matrix/seed_{i}"
        metrics = load_metrics(db, name)
        rec = _recorded(run, state)
        got_steps, timesteps = metrics["time/timesteps"]
        assert got_steps.tolist() == steps and timesteps.tolist() == steps
        # the algorithm's own training log, as the recorder saw it in the program
        for key in setup.log_keys:
            logged_steps, values = metrics[f"train/{key}"]
            assert logged_steps.tolist() == steps, key
            np.testing.assert_allclose(
                values, np.asarray(rec.log[key])[:ITERATIONS], rtol=1e-5, atol=1e-6, err_msg=key
            )
        count_steps, counts = metrics["episode/count"]
        assert count_steps.tolist() == steps
        assert counts.tolist() == np.asarray(rec.count)[:ITERATIONS].tolist()
        assert counts.sum() == int(state.num_episodes)
        # the mean return of the episodes that ended in each iteration (NaN if none)
        mean_steps, means = metrics["episode/return_mean"]
        assert mean_steps.tolist() == steps
        np.testing.assert_allclose(means, np.asarray(rec.mean_return)[:ITERATIONS], rtol=1e-5)
        # TensorBoard: the same series through tensorboard's own reader
        acc = _tensorboard(run.root / "tb" / name)
        events = acc.Scalars("episode/count")
        assert [e.step for e in events] == steps
        assert [e.value for e in events] == counts.tolist()
        key = setup.log_keys[0]
        tb = acc.Scalars(f"train/{key}")
        np.testing.assert_allclose(
            [e.value for e in tb], metrics[f"train/{key}"][1], rtol=1e-5, atol=1e-6
        )


def _leaves_equal(a, b) -> bool:
    def data(x):
        x = jnp.asarray(x)
        return jr.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x

    xs, ys = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(xs) == len(ys) and all(
        np.array_equal(np.asarray(data(x)), np.asarray(data(y)))
        for x, y in zip(xs, ys, strict=True)
    )


def test_save_checkpoints_writes_loadable_exact_states(output_run):
    run, setup = output_run, output_run.setup
    env_dir = setup.env.name.split("-v")[0]
    middles = []
    for i, state in enumerate(run.members()):
        saves = run.root / "ckpt" / run.label(i) / "saves"
        names = sorted(p.name for p in saves.iterdir())
        periodic = [f"{env_dir}_{n}" for n in range(SAVE_EVERY, ITERATIONS, SAVE_EVERY)]
        assert names == sorted(
            ["completed.json", "model_config.json", f"{env_dir}_final", *periodic]
        )
        completed = json.loads((saves / "completed.json").read_text())
        assert completed["timesteps"] == ITERATIONS * PER_ITERATION
        assert completed["iterations"] == ITERATIONS
        final = load(saves / f"{env_dir}_final")
        assert int(final.iteration) == ITERATIONS
        # the training part of the final save is the returned state, bitwise
        for part in ("policy", "opt_state", "env_state", "observation", "key", "num_episodes"):
            assert _leaves_equal(getattr(final, part), getattr(state, part)), part
        if setup.off_policy:  # buffer=True: the replay buffer is in the checkpoint
            assert not isinstance(final.algorithm_state.buffer, BufferNotSaved)
            assert _leaves_equal(final.algorithm_state, state.algorithm_state)
            assert int(final.algorithm_state.buffer.size) == min(
                ITERATIONS * PER_ITERATION, OFF_POLICY["buffer_size"]
            )
        middle = load(saves / f"{env_dir}_{SAVE_EVERY}")
        assert int(middle.iteration) == SAVE_EVERY
        assert int(middle.num_timesteps) == SAVE_EVERY * PER_ITERATION
        middles.append(setup.algo.with_callbacks(middle, None))
    # resuming the periodic saves (vmapped again under vmap) reproduces the end: bitwise
    # under jit; under vmap the program without callbacks may fuse differently (A2C's
    # did), so up to float error
    if run.mode == "jit":
        resumed = setup.algo.train(middles[0])
        assert _leaves_equal(resumed.policy, run.state.policy)
    else:
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *middles)
        resumed = jax.vmap(lambda s: setup.algo.train(s))(stacked)
        for a, b in zip(
            jax.tree.leaves(resumed.policy), jax.tree.leaves(run.state.policy), strict=True
        ):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert _leaves_equal(resumed.num_timesteps, run.state.num_timesteps)


def test_eval_callback_results_equal_evaluate_policy(output_run):
    run, setup = output_run, output_run.setup
    for i, state in enumerate(run.members()):
        s = state.callback_state.states[EVAL]
        assert int(s.num_evals) == ITERATIONS // EVAL_EVERY
        returns, _ = evaluate_policy(
            setup.env,
            state.policy,
            num_episodes=EVAL_EPISODES,
            key=jr.fold_in(s.key, s.num_evals - 1),
        )
        np.testing.assert_allclose(
            (s.mean_return, s.std_return), (returns.mean(), returns.std()), rtol=1e-5
        )
        best, _ = evaluate_policy(
            setup.env, s.best_policy, num_episodes=EVAL_EPISODES, key=jr.fold_in(s.key, s.best_eval)
        )
        np.testing.assert_allclose(s.best_mean_return, best.mean(), rtol=1e-5)
        assert int(s.best_iteration) == (int(s.best_eval) + 1) * EVAL_EVERY
        prefix = r"^" if run.mode == "jit" else rf"^\[{i}\] "
        lines = re.findall(rf"{prefix}eval after iteration (\d+) ", run.printed, re.M)
        assert [int(x) for x in lines] == list(range(EVAL_EVERY, ITERATIONS + 1, EVAL_EVERY))


def test_progress_bar_reports_the_whole_budget(output_run):
    run, setup = output_run, output_run.setup
    lines = run.bar.splitlines()
    total = ITERATIONS * PER_ITERATION
    head = f"{type(setup.algo).__name__} {setup.env.name}"
    head += ":" if run.mode == "jit" else f" ({len(SEEDS)} runs):"
    assert all(line.startswith(head) for line in lines), lines
    assert f"0/{total} steps (0%)" in lines[0]
    assert f"{total}/{total} steps (100%)" in lines[-1] and lines[-1].endswith("done")
    percents = [int(p) for p in re.findall(r"steps \((\d+)%\)", run.bar)]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100


def test_record_videos_writes_decodable_mp4_files(output_run):
    run, setup = output_run, output_run.setup
    name = setup.env.name
    for i, _ in enumerate(run.members()):
        folder = run.root / "videos" / run.label(i) / "videos"
        names = sorted(p.name for p in folder.iterdir())
        iterations = range(VIDEO_EVERY, ITERATIONS + 1, VIDEO_EVERY)
        assert names == sorted(
            [f"{name}-final.mp4"] + [f"{name}-iteration-{n}.mp4" for n in iterations]
        )
        for video in names:
            frames = iio.imread(folder / video)
            # no episode ends within VIDEO_STEPS steps: the reset frame + one per step
            assert frames.shape == (VIDEO_STEPS + 1, H, W, 3), video
            assert frames.std() > 0, "not a blank video"


def test_every_n_and_print_progress_print_when_due(output_run):
    run = output_run
    total = ITERATIONS * PER_ITERATION
    for i, state in enumerate(run.members()):
        prefix = r"" if run.mode == "jit" else rf"\[{i}\] "
        printed = [
            int(x) for x in re.findall(rf"^{prefix}\s*(\d+)/{total} steps", run.printed, re.M)
        ]
        wrapped = list(range(EVERY_N, ITERATIONS + 1, EVERY_N))  # EveryN(PrintProgress(1))
        plain = list(range(PRINT_EVERY, ITERATIONS + 1, PRINT_EVERY))  # PrintProgress(5)
        assert sorted(printed) == sorted(PER_ITERATION * n for n in wrapped + plain)
        done = re.findall(rf"^{prefix}done: (\d+) steps, (\d+) episodes", run.printed, re.M)
        assert done == [(str(total), str(int(state.num_episodes)))] * 2
        every = state.callback_state.states[EVERYN]
        assert int(every.calls) == len(wrapped)
        assert int(every.last_timesteps) == total


# --------------------------------------------------------------- the stopping run


class NaNRewardState(eqx.Module):
    inner: Any
    t: jax.Array


class NaNReward(AbstractEnv):
    """Any env whose reward is NaN at step `nan_at` (1-based) of every episode."""

    inner: AbstractEnv
    nan_at: jax.Array

    @property
    def name(self):
        return self.inner.name

    @property
    def observation_space(self):
        return self.inner.observation_space

    @property
    def action_space(self):
        return self.inner.action_space

    def reset(self, *, key):
        state, obs = self.inner.reset(key=key)
        return NaNRewardState(state, jnp.zeros((), jnp.int32)), obs

    def step(self, state, action, *, key):
        inner, obs, reward, terminated, truncated, info = self.inner.step(
            state.inner, action, key=key
        )
        t = state.t + 1
        reward = jnp.where(t == self.nan_at, jnp.nan, reward)
        return NaNRewardState(inner, t), obs, reward, terminated, truncated, info

    def render(self, state, *, width=600, height=400):
        return self.inner.render(state.inner, width=width, height=height)


ES_PATIENCE, NI_PATIENCE, NI_MIN = 2, 3, 2
NEVER = 10**6
# scenario -> (EarlyStopping target, StopOnMaxEpisodes n, NaN step): the rule named
# is the one meant to stop the run first
SCENARIOS = {
    "early": (-1e9, NEVER, NEVER),
    "max_episodes": (1e9, 3, NEVER),
    "nan": (1e9, NEVER, 1),
    "no_improvement": (1e9, NEVER, NEVER),
}
RULES = ("early", "no_improvement", "max_episodes", "nan")
STOPPERS = {"early": 1, "no_improvement": 2, "max_episodes": 3, "nan": 4}
CODES = {
    "early": StopReason.TARGET_REACHED,
    "no_improvement": StopReason.NO_IMPROVEMENT,
    "max_episodes": StopReason.MAX_EPISODES,
    "nan": StopReason.NON_FINITE,
}

# Short CartPole episodes: returns soon plateau at the limit, so StopOnNoImprovement's
# rule (a strictly better mean) holds within the budget even while DQN improves.
STOP_ENVS = {"PPO": TimeLimit(CartPole(), 10), "A2C": TimeLimit(CartPole(), 10)}
STOP_ENVS |= {"DQN": TimeLimit(CartPole(), 10), "SAC": PENDULUM}

_PROGRAMS: dict = {}


def _stopping_program(name: str, mode: str):
    """One compiled stopping program per (algorithm, mode); scenarios are arguments."""
    if (name, mode) not in _PROGRAMS:
        setup = _setup(name)

        def run(key, target, n, nan_at):
            env = NaNReward(STOP_ENVS[name], nan_at)
            callbacks = [
                Recorder(log_keys=setup.log_keys),
                EarlyStopping(target, patience=ES_PATIENCE),
                StopOnNoImprovement(NI_PATIENCE, min_iterations=NI_MIN),
                StopOnMaxEpisodes(n),
                NaNGuard(),
            ]
            total = PER_ITERATION * STOP_ITERATIONS
            state = setup.algo.init(env, setup.policy, total, key=key, callback=callbacks)
            return setup.algo.train(state, callback=callbacks)

        if mode == "jit":
            program = lambda *args: run(SEEDS[0], *args)  # noqa: E731
        else:
            program = lambda *args: jax.vmap(run, in_axes=(0, None, None, None))(  # noqa: E731
                SEEDS, *args
            )
        _PROGRAMS[(name, mode)] = (setup, program)
    return _PROGRAMS[(name, mode)]


def _expected_stops(setup: Setup, state, target, n) -> dict[str, int | None]:
    """First iteration at which each rule holds, from the recorder, in numpy."""
    rec = state.callback_state.states[0]
    budget = slice(0, STOP_ITERATIONS)  # the recorder's later slots were never written
    means, counts = np.asarray(rec.mean_return)[budget], np.asarray(rec.count)[budget]
    logs = [np.asarray(rec.log[k])[budget] for k in setup.log_keys]
    return {
        "early": first(early_stopping_rule(means, counts, target, ES_PATIENCE)),
        "no_improvement": first(no_improvement_rule(means, counts, NI_PATIENCE, NI_MIN)),
        "max_episodes": first(np.asarray(rec.num_episodes)[budget] >= n),
        "nan": first(np.stack([~np.isfinite(x) for x in logs]).any(0)),
    }


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("name, mode", CASES, ids=IDS)
def test_stopping_callbacks_stop_at_the_iteration_their_rule_holds(name, mode, scenario):
    setup, program = _stopping_program(name, mode)
    target, n, nan_at = SCENARIOS[scenario]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        batched = program(jnp.asarray(target), jnp.asarray(n), jnp.asarray(nan_at))
    for i, state in enumerate(_members(batched, mode)):
        expected = _expected_stops(setup, state, target, n)
        holding = [v for v in expected.values() if v is not None]
        stop = min(holding, default=STOP_ITERATIONS)
        assert int(state.iteration) == stop and bool(state.stopped) == bool(holding)
        assert expected[scenario] == stop, (scenario, expected)
        for rule in RULES:
            s = state.callback_state.states[STOPPERS[rule]]
            holds = expected[rule] == stop
            assert bool(s.stopped) == holds, (rule, expected)
            assert int(s.stop_iteration) == (stop if holds else -1), rule
            assert int(s.reason) == (CODES[rule] if holds else StopReason.NONE), rule
        prefix = "" if mode == "jit" else f"[{i}] "
        reporter = {
            "early": "EarlyStopping:",
            "no_improvement": "StopOnNoImprovement:",
            "max_episodes": "StopOnMaxEpisodes:",
            "nan": "NaNGuard:",
        }[scenario]
        assert f"{prefix}{reporter}" in printed.getvalue()
        if scenario == "nan":
            name_ = NaNGuard.metric_name(state.callback_state.states[4])
            assert name_ in (*sorted(setup.log_keys), "parameters")
