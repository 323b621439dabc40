"""Training-control callbacks: overhead and the wall time early stopping saves.

PPO CartPole (4 envs x 128 steps, 4 epochs x 4 minibatches, 2**17 steps), side by
side in one process, contenders interleaved run by run:

* plain `learn`;
* `learn` with [EarlyStopping(1e9) (never triggers), ProgressBarCallback,
  SaveCheckpoints(frequency=50), EvalCallback(every=20, num_episodes=8)]
  (target <= 1.05x plain, issue 16);
* `learn` with a bare evaluation callback (`BareEvaluations`: the same 12
  evaluations, 8 episodes each, every 20 iterations, and nothing else: no line, no
  best policy, no crossing), so the four callbacks' cost can also be read beyond the
  evaluations' own episodes (the work any evaluation of that size costs);
* `learn` with the three callbacks other than the evaluation (EarlyStopping,
  ProgressBar, SaveCheckpoints(50)): with the bare evaluations, the two parts the
  four callbacks' cost splits into;
* `learn` with EarlyStopping(475) on the documented seed vs the full budget
  (target: at least 30% less wall time).

    python benchmarks/control_overhead.py [--repeats 5]
    python benchmarks/control_overhead.py --breakdown [--repeats 10]
    python benchmarks/control_overhead.py --device-cost [--repeats 6]
    python benchmarks/control_overhead.py --async-evaluations [--repeats 21]

The main figure is the median over rounds of (control learn / plain learn), the cases
run back to back, in reversed order every other round (a load drift or an ordering
effect falls on all alike), with a 95% bootstrap interval of that median (rounds
resampled, `_timing.ratio_interval`). Each learn saves its checkpoints under a
directory of its own (a host-only setting: no recompilation); they are removed when
the script ends, outside the timed calls.

`--breakdown` times each of the four callbacks alone and all four together, one learn
per case per round, cases interleaved (order reversed every other round).
`--async-evaluations` measures a proposed design (a sketch in this script, not a
lerax feature): the evaluations run as a separate program on a host worker thread,
beside training, fed the policy by a crossing when due (`AsyncEvaluations`).
`--device-cost` measures the per-iteration cost of EarlyStopping and the progress bar
on small PPO iterations and estimates the standard run's ratio from it (see
`_small_iterations.py`).
"""

from __future__ import annotations

import argparse
import atexit
import io
import itertools
import os
import shutil
import tempfile
import time

import _small_iterations
import _timing  # benchmarks/ is on sys.path when this script runs
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from lerax import host
from lerax.algorithm import PPO
from lerax.callback import (
    AbstractCallbackState,
    AbstractIterationCallback,
    EarlyStopping,
    EvalCallback,
    ProgressBarCallback,
    SaveCheckpoints,
)
from lerax.callback._gating import evaluate_when_due
from lerax.env import CartPole
from lerax.host._worker import BackgroundWorker
from lerax.policy import MLPActorCriticPolicy, evaluate_policy

TIMESTEPS = 2**17
EARLY_STOP_SEED = 0  # run key; PPO() reaches 475 three iterations in a row at iteration 156


class BareEvaluationsState(AbstractCallbackState):
    key: jax.Array
    num_evals: jax.Array
    total: jax.Array  # keeps the evaluations' results live (not optimised away)


class BareEvaluations(AbstractIterationCallback[BareEvaluationsState]):
    """EvalCallback's evaluations (same gate, same episodes, same key folding) and
    nothing else: the evaluation work itself, without the callback framework around it."""

    env: object
    every: int
    num_episodes: int

    def reset(self, ctx, *, key):
        zero = jnp.zeros((), jnp.int32)
        return BareEvaluationsState(key=key, num_evals=zero, total=jnp.zeros(()))

    def on_iteration(self, ctx, *, key):
        s = ctx.state
        due = ctx.iteration_count % self.every == 0
        mean, _ = evaluate_when_due(
            due,
            self.env,
            ctx.policy,
            num_episodes=self.num_episodes,
            deterministic=True,
            max_steps=None,
            key=s.key,
            index=s.num_evals,
        )
        return BareEvaluationsState(
            key=s.key,
            num_evals=s.num_evals + due.astype(jnp.int32),
            total=s.total + jnp.where(due, mean, 0.0),
        )


class AsyncEvaluationsState(AbstractCallbackState):
    num_evals: jax.Array
    ack: jax.Array


class AsyncEvaluations(AbstractIterationCallback[AsyncEvaluationsState]):
    """A SKETCH of a proposed design, not a lerax feature: when an evaluation is due
    (EvalCallback(20, 8 eps)'s schedule), the policy's arrays cross to the host, where
    a worker thread runs the same evaluation (8 greedy episodes) as a separately
    jitted program while training goes on; `learn` returns after the last one.
    Nothing comes back into the program (the proposal would bring the results back a
    fixed number of iterations later, so that runs stay deterministic)."""

    env: object
    every: int
    num_episodes: int
    policy: object  # the initial policy: the host rebuilds the crossed arrays on it

    def reset(self, ctx, *, key):
        zero = jnp.zeros((), jnp.int32)
        return AsyncEvaluationsState(num_evals=zero, ack=zero)

    def on_iteration(self, ctx, *, key):
        s = ctx.state
        due = ctx.iteration_count % self.every == 0
        payload = {"policy": eqx.filter(ctx.policy, eqx.is_array), "index": s.num_evals}
        ack = host.send("evaluate", payload, due=due)
        return AsyncEvaluationsState(num_evals=s.num_evals + due.astype(jnp.int32), ack=s.ack + ack)

    def host_receivers(self, run):
        return {"evaluate": _HostEvaluations(self.env, self.policy, self.num_episodes)}


_EVALUATORS: dict = {}  # one jitted evaluation per (env, episodes): compiled once


class _HostEvaluations:
    """The host side of `AsyncEvaluations`: queue each crossed policy to a worker that
    evaluates it; the run's scope closes it after the worker's last evaluation."""

    def __init__(self, env, policy, num_episodes: int):
        self.static = eqx.partition(policy, eqx.is_array)[1]
        key = (id(env), num_episodes)
        if key not in _EVALUATORS:
            _EVALUATORS[key] = eqx.filter_jit(
                lambda p, k: evaluate_policy(env, p, num_episodes=num_episodes, key=k)
            )
        self.evaluate = _EVALUATORS[key]
        self.worker = BackgroundWorker("async-evaluations")
        self.means: list[float] = []

    def __call__(self, rows, index) -> None:
        for r in range(index.shape[0]):
            arrays = jax.tree.map(lambda x, r=r: np.array(x[r]), rows["policy"])
            self.worker.submit(self._evaluate, arrays, int(rows["index"][r]))

    def _evaluate(self, arrays, i: int) -> None:
        policy = eqx.combine(arrays, self.static)
        returns, _ = self.evaluate(policy, jr.fold_in(jr.key(0), i))
        self.means.append(float(np.mean(returns)))

    def close_run(self, *, interrupted: bool) -> None:
        self.worker.close()


def workload():
    """The PPO CartPole workload in a fresh working directory (removed at exit), and
    `run(make)`: a function of a key that trains with the callbacks `make()` builds (a
    fresh list per call)."""
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo = PPO()
    root = tempfile.mkdtemp(prefix="lerax-control-")
    os.chdir(root)
    atexit.register(shutil.rmtree, root, ignore_errors=True)

    def run_with(make):
        def run(k):
            return algo.learn(env, policy, TIMESTEPS, key=k, callback=make())

        return run

    return env, policy, algo, run_with


def control_makers(env, stream) -> dict:
    """The four control callbacks of the target, each as a builder of a one-item list
    (the checkpoints of every call go to a directory of their own)."""
    calls = itertools.count()
    return {
        "EarlyStopping(never)": lambda: [EarlyStopping(1e9)],
        "ProgressBar": lambda: [ProgressBarCallback(stream=stream)],
        "SaveCheckpoints(50)": lambda: [SaveCheckpoints(f"bench{next(calls)}", frequency=50)],
        "Eval(20, 8 eps)": lambda: [EvalCallback(env, every=20, num_episodes=8)],
    }


def bare_evaluations(env):
    """A builder of `[BareEvaluations]` with EvalCallback(20, 8 eps)'s schedule."""
    return lambda: [BareEvaluations(env, every=20, num_episodes=8)]


def without_evaluation(makers: dict) -> dict:
    """`control_makers`' builders less the evaluation's: the three other callbacks."""
    return {name: make for name, make in makers.items() if not name.startswith("Eval")}


def all_of(makers: dict):
    """A builder of the concatenation of every builder's list."""
    return lambda: [cb for make in makers.values() for cb in make()]


def breakdown(repeats: int) -> None:
    env, _, _, run_with = workload()
    singles = control_makers(env, io.StringIO())
    makers = {
        "plain": lambda: None,
        "bare evaluations": bare_evaluations(env),
        **singles,
        "all four": all_of(singles),
    }
    fns = {name: run_with(make) for name, make in makers.items()}
    _timing.print_ratio_table(_timing.interleaved_times(fns, repeats), repeats)


def async_evaluations(repeats: int) -> None:
    """The proposal's effect: the three other control callbacks with the evaluations
    run beside training (`AsyncEvaluations`), against the four callbacks as they are."""
    env, policy, _, run_with = workload()
    singles = control_makers(env, io.StringIO())
    three = without_evaluation(singles)
    sketch = lambda: [AsyncEvaluations(env, every=20, num_episodes=8, policy=policy)]  # noqa: E731
    makers = {
        "plain": lambda: None,
        "bare evaluations": bare_evaluations(env),
        "evaluations beside training (sketch)": sketch,
        "3 callbacks + evaluations beside training (sketch)": lambda: all_of(three)() + sketch(),
        "4 control callbacks": all_of(singles),
    }
    times = _timing.interleaved_times({n: run_with(m) for n, m in makers.items()}, repeats)
    print(f"JAX {jax.__version__}, {os.cpu_count()} CPUs, {repeats} interleaved rounds")
    print("\n| case | median (s) | ratio to plain (95% interval) |")
    print("|---|---|---|")
    for name, t in times.items():
        ratio = "1.000" if name == "plain" else _timing.ratio_cell(t, times["plain"])
        print(f"| {name} | {np.median(t):.3f} | {ratio} |")


def device_cost(rounds: int) -> None:
    """Per-iteration costs of the two callbacks that work at every iteration, on small
    PPO iterations (see `_small_iterations`); the evaluation and the checkpoints are
    periodic work, timed by `--breakdown` on the standard run."""
    _small_iterations.report(
        {
            "EarlyStopping(never)": EarlyStopping(1e9),
            "ProgressBar": ProgressBarCallback(stream=io.StringIO()),
        },
        rounds,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--breakdown", action="store_true")
    parser.add_argument("--device-cost", action="store_true")
    parser.add_argument("--async-evaluations", action="store_true")
    args = parser.parse_args()
    if args.async_evaluations:
        async_evaluations(args.repeats)
        return
    if args.device_cost:
        device_cost(args.repeats)
        return
    if args.breakdown:
        breakdown(args.repeats)
        return
    env, policy, algo, run_with = workload()
    singles = control_makers(env, io.StringIO())
    control = run_with(all_of(singles))
    without_eval = run_with(all_of(without_evaluation(singles)))

    def plain(k):
        return algo.learn(env, policy, TIMESTEPS, key=k)

    def state_of(callbacks, key):
        state = algo.init(env, policy, TIMESTEPS, key=key, callback=callbacks)
        return algo.train(state, callback=callbacks)

    bare = run_with(bare_evaluations(env))
    cases = {
        "plain": plain,
        "bare evaluations": bare,
        "3 control callbacks without the evaluation": without_eval,
        "4 control callbacks": control,
    }
    for fn in cases.values():
        jax.block_until_ready(fn(jr.key(0)))
    wall = {n: [] for n in cases}
    for r in range(args.repeats):
        for name, fn in list(cases.items())[:: 1 if r % 2 == 0 else -1]:
            start = time.perf_counter()
            jax.block_until_ready(fn(jr.key(r + 1)))
            wall[name].append(time.perf_counter() - start)
    print(f"JAX {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs")
    print(
        "\n| case | median wall (s) | ratio to plain (95% interval) "
        "| ratio to bare evaluations (95% interval) |"
    )
    print("|---|---|---|---|")
    labels = {
        "plain": "plain learn",
        "bare evaluations": "+ bare evaluations (20, 8 eps)",
        "3 control callbacks without the evaluation": (
            "+ EarlyStopping(never), ProgressBar, SaveCheckpoints(50)"
        ),
        "4 control callbacks": (
            "+ EarlyStopping(never), ProgressBar, SaveCheckpoints(50), Eval(20, 8 eps)"
        ),
    }

    for name, label in labels.items():
        to_plain = "1.000" if name == "plain" else _timing.ratio_cell(wall[name], wall["plain"])
        to_bare = ""
        if name == "4 control callbacks":
            to_bare = _timing.ratio_cell(wall[name], wall["bare evaluations"])
        print(f"| {label} | {np.median(wall[name]):.3f} | {to_plain} | {to_bare} |")

    # Early stopping: same compiled program shape as the full run (train after init).
    stop = [EarlyStopping(475.0)]
    key = jr.key(EARLY_STOP_SEED)
    jax.block_until_ready(state_of(stop, key).policy)
    jax.block_until_ready(state_of(None, key).policy)
    full, early, iterations = [], [], None
    for _ in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(state_of(None, key).policy)
        full.append(time.perf_counter() - start)
        start = time.perf_counter()
        stopped = state_of(stop, key)
        jax.block_until_ready(stopped.policy)
        early.append(time.perf_counter() - start)
        iterations = int(stopped.iteration)
    saving = 1 - np.median(early) / np.median(full)
    print(
        f"\nEarlyStopping(475) on seed {EARLY_STOP_SEED}: stopped after {iterations} of "
        f"{TIMESTEPS // 512} iterations; {np.median(early):.3f}s vs {np.median(full):.3f}s for "
        f"the full budget: {100 * saving:.0f}% less wall time"
    )


if __name__ == "__main__":
    main()
