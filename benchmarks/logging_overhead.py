"""Logging overhead: LoggingCallback([TensorBoard, SQLite, Console]) every iteration.

PPO CartPole (4 envs x 128 steps, 4 epochs x 4 minibatches, 2**17 steps = 256
iterations), measured side by side in one process, interleaved rounds:

* plain `learn` vs `learn` with LoggingCallback logging every iteration (target <= 1.03x);
* `jax.vmap(learn)` over 16 seeds, without vs with logging (target <= 1.03x);
* host calls per second of training at 1, 4 and 16 seeds, and events stored per
  iteration (must be 1: every iteration's event reaches the backends, batched);
* a freshly constructed callback list of the same configuration: the second `learn`
  with new objects against the same objects reused (target <= 1.1x; no compilation),
  also for a sweep's list whose run name and checkpoint directory change every run
  (`--fresh` runs only these two).

    python benchmarks/logging_overhead.py [--repeats 3] [--rounds 3] [--seeds 16]
    python benchmarks/logging_overhead.py --breakdown [--rounds 10] [--only "never due"]
    python benchmarks/logging_overhead.py --intervals [--rounds 16]
    python benchmarks/logging_overhead.py --device-cost [--rounds 6]
    python benchmarks/logging_overhead.py --device-cost --population-cost [--seeds 16]
    python benchmarks/logging_overhead.py --fresh
    python benchmarks/logging_overhead.py --split --seeds 1 [--rounds 15]

`--breakdown` splits the single-run overhead instead, one learn per case per round,
cases interleaved (order reversed every other round): a bare crossing per iteration
(one int32 to a receiver that returns at once: the floor any per-iteration host call
costs), a LoggingCallback whose backend does nothing and that is never due (its
device-side work: per-step episode statistics and the training metrics), the same due
every iteration (plus one crossing per iteration), and the three real backends.

`--device-cost` measures the callback's per-iteration cost on small PPO iterations
(where tens of microseconds stand out of this machine's +-3-5% noise) and estimates
the standard run's ratio from it (see `device_cost`).

`--split` separates what logging costs once per `learn` (opening and closing the run
scope, its threads and backends) from what it costs per iteration: each case is timed
at 4 and at 64 iterations (interleaved rounds, medians), the extra over plain at 4
iterations is the fixed cost and the growth of the extra between the two lengths, per
iteration, the running cost. It also gives the process's CPU seconds (all threads):
the backends' writer threads run beside XLA's on the same cores.

`--intervals` times the same three backends logging every 1, 4 and 16 iterations
(`log_interval`), interleaved with plain training.

Console output of the ConsoleBackend goes to /dev/null here (it is not a TTY, so it
writes plain lines), TensorBoard and SQLite write into a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import _small_iterations
import _timing  # benchmarks/ is on sys.path when this script runs
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from lerax import host
from lerax.algorithm import PPO
from lerax.callback import (
    AbstractCallbackState,
    AbstractIterationCallback,
    AbstractLoggingBackend,
    ConsoleBackend,
    LoggingCallback,
    SaveCheckpoints,
    SQLiteBackend,
    TensorBoardBackend,
)
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

TIMESTEPS = 2**17


def make_logger(tmp: str, tag: str, log_interval: int = 1) -> LoggingCallback:
    sink = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the benchmark
    return LoggingCallback(
        [
            TensorBoardBackend(log_dir=os.path.join(tmp, "tb")),
            SQLiteBackend(path=os.path.join(tmp, "runs.db")),
            ConsoleBackend(stream=sink),
        ],
        name=tag,
        log_interval=log_interval,
    )


class NullBackend(AbstractLoggingBackend):
    """Receives every event and does nothing with it."""

    def open(self, name, *, metadata=None):
        pass

    def log_hparams(self, hparams):
        pass

    def log_scalars(self, scalars, step):
        pass

    def log_video(self, tag, frames, step, fps):
        pass

    def close(self):
        pass


class AckState(AbstractCallbackState):
    ack: jax.Array


class BareCrossing(AbstractIterationCallback):
    """One crossing per iteration carrying the timestep count to a receiver that
    returns at once; nothing else on the device or the host."""

    def reset(self, ctx, *, key):
        return AckState(ack=jnp.zeros((), jnp.int32))

    def on_iteration(self, ctx, *, key):
        ack = host.send("benchmark.bare", {"timesteps": ctx.num_timesteps})
        return AckState(ack=ctx.state.ack + ack)  # threaded, as the real callbacks do

    def host_receivers(self, run):
        return {"benchmark.bare": lambda rows, index: None}


class ReceiversOnly(AbstractIterationCallback):
    """Has a receiver and never sends: the cost of any callback with host receivers
    (the run scope and the host-paced control crossing), nothing of its own."""

    def reset(self, ctx, *, key):
        return AckState(ack=jnp.zeros((), jnp.int32))

    def on_iteration(self, ctx, *, key):
        return ctx.state

    def host_receivers(self, run):
        return {"benchmark.unused": lambda rows, index: None}


def device_cost(rounds: int, seeds: int = 1) -> None:
    """Per-iteration costs on small PPO iterations (see `_small_iterations`), of one run
    or of `jax.vmap` over `seeds`."""
    _small_iterations.report(
        {
            "receivers only (run scope + control crossing)": ReceiversOnly(),
            "null backend, never due": LoggingCallback(NullBackend(), name="n", log_interval=10**9),
            "null backend, every iteration": LoggingCallback(NullBackend(), name="e"),
            "TensorBoard + SQLite + Console, every iteration": make_logger(
                tempfile.mkdtemp(prefix="lerax-logbench-"), "full"
            ),
        },
        rounds,
        seeds,
    )


def breakdown(rounds: int, only: str | None = None) -> None:
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo = PPO()
    tmp = tempfile.mkdtemp(prefix="lerax-logbench-")
    callbacks = {
        "plain": None,
        "bare crossing (receiver returns at once), every iteration": BareCrossing(),
        "null backend, never due": LoggingCallback(NullBackend(), name="n", log_interval=10**9),
        "null backend, every iteration": LoggingCallback(NullBackend(), name="e"),
        "TensorBoard + SQLite + Console, every iteration": make_logger(tmp, "full"),
    }

    def run_with(callback):
        return lambda k: algo.learn(env, policy, TIMESTEPS, key=k, callback=callback)

    if only:
        callbacks = {n: cb for n, cb in callbacks.items() if n == "plain" or only in n}
    fns = {name: run_with(cb) for name, cb in callbacks.items()}
    times = _timing.interleaved_times(fns, rounds)
    _timing.print_ratio_table(times, rounds, iterations=TIMESTEPS // algo.steps_per_iteration)


def intervals(rounds: int) -> None:
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo = PPO()
    tmp = tempfile.mkdtemp(prefix="lerax-logbench-")
    callbacks = {"plain": None}
    for every in (1, 4, 16):
        name = f"TensorBoard + SQLite + Console, every {every} iterations"
        callbacks[name] = make_logger(tmp, f"every{every}", log_interval=every)

    def run_with(callback):
        return lambda k: algo.learn(env, policy, TIMESTEPS, key=k, callback=callback)

    times = _timing.interleaved_times({n: run_with(cb) for n, cb in callbacks.items()}, rounds)
    _timing.print_ratio_table(times, rounds, iterations=TIMESTEPS // algo.steps_per_iteration)


def split(rounds: int, seeds: int) -> None:
    """Fixed (per learn) and running (per iteration) costs, wall and CPU: see the module
    docstring."""
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo = PPO()
    tmp = tempfile.mkdtemp(prefix="lerax-logbench-")
    makers = {
        "plain": lambda: None,
        "bare crossing, every iteration": BareCrossing,
        "null backend, never due": lambda: LoggingCallback(
            NullBackend(), name="n", log_interval=10**9
        ),
        "TensorBoard + SQLite + Console, every iteration": lambda: make_logger(tmp, "split"),
    }
    short, long = 4, 64

    def run(make, iterations):
        steps = iterations * algo.steps_per_iteration
        if seeds == 1:
            return lambda k: algo.learn(env, policy, steps, key=k, callback=make())
        return lambda k: jax.vmap(
            lambda kk, cb: algo.learn(env, policy, steps, key=kk, callback=cb),
            in_axes=(0, None),
        )(jr.split(k, seeds), make())

    fns = {(n, i): run(m, i) for n, m in makers.items() for i in (short, long)}
    for fn in fns.values():
        jax.block_until_ready(fn(jr.key(0)))
    wall = {case: [] for case in fns}
    cpu = {case: [] for case in fns}
    for r in range(rounds):
        for case, fn in list(fns.items())[:: 1 if r % 2 == 0 else -1]:
            c0, t0 = _timing.cpu_seconds(), time.perf_counter()
            jax.block_until_ready(fn(jr.key(r + 1)))
            wall[case].append(time.perf_counter() - t0)
            cpu[case].append(_timing.cpu_seconds() - c0)
    med = {case: (np.median(wall[case]), np.median(cpu[case])) for case in fns}
    print(
        f"JAX {jax.__version__}, {os.cpu_count()} CPUs, {seeds} seed(s), median of {rounds} "
        f"interleaved rounds; {short} and {long} iterations of {algo.steps_per_iteration} steps"
    )
    print(
        f"\n| case | wall at {long} (ms) | fixed per learn (ms) | per iteration (us) "
        f"| CPU at {long} (ms) | CPU fixed (ms) | CPU per iteration (us) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in makers:
        row = [f"{1e3 * med[(name, long)][0]:.1f}"]
        cpu_row = [f"{1e3 * med[(name, long)][1]:.0f}"]
        for k, out in ((0, row), (1, cpu_row)):
            extra_short = med[(name, short)][k] - med[("plain", short)][k]
            extra_long = med[(name, long)][k] - med[("plain", long)][k]
            out.append(f"{1e3 * extra_short:+.1f}")
            out.append(f"{1e6 * (extra_long - extra_short) / (long - short):+.0f}")
        print(f"| {name} | {' | '.join(row + cpu_row)} |")


def timed(fn, repeats: int, seed: int) -> float:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(jr.key(seed + i)))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--breakdown", action="store_true")
    parser.add_argument("--intervals", action="store_true")
    parser.add_argument("--device-cost", action="store_true")
    parser.add_argument(
        "--population-cost", action="store_true", help="--device-cost: vmap over --seeds"
    )
    parser.add_argument("--only", help="--breakdown: plain and the cases whose name has this")
    parser.add_argument("--fresh", action="store_true", help="only the fresh-list comparisons")
    parser.add_argument("--split", action="store_true", help="fixed vs per-iteration costs")
    args = parser.parse_args()
    if args.breakdown:
        breakdown(args.rounds, args.only)
        return
    if args.split:
        split(args.rounds, args.seeds)
        return
    if args.intervals:
        intervals(args.rounds)
        return
    if args.device_cost:
        device_cost(args.rounds, args.seeds if args.population_cost else 1)
        return
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo = PPO()
    tmp = tempfile.mkdtemp(prefix="lerax-logbench-")
    if args.fresh:
        fresh_lists(algo, env, policy, tmp)
        return
    logger = make_logger(tmp, "single")
    pop_logger = make_logger(tmp, "population")

    def single(cb):
        return lambda k: algo.learn(env, policy, TIMESTEPS, key=k, callback=cb)

    def population(cb):
        return lambda k: jax.vmap(
            lambda kk: algo.learn(env, policy, TIMESTEPS, key=kk, callback=cb)
        )(jr.split(k, args.seeds))

    cases = {
        "plain": single(None),
        "logging": single(logger),
        f"vmap {args.seeds} plain": population(None),
        f"vmap {args.seeds} logging": population(pop_logger),
    }
    for fn in cases.values():  # compile
        jax.block_until_ready(fn(jr.key(0)))
    results = {name: [] for name in cases}
    for r in range(args.rounds):
        for name, fn in cases.items():
            results[name].append(timed(fn, args.repeats, 1000 * r + 1))
    print(
        f"JAX {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs, "
        f"{TIMESTEPS} steps per run, median of {args.repeats} x {args.rounds} rounds"
    )
    print("\n| case | seconds | ratio (95% interval over rounds) |")
    print("|---|---|---|")
    pairs = [("plain", "logging"), (f"vmap {args.seeds} plain", f"vmap {args.seeds} logging")]
    for base, logged in pairs:
        b, lg = results[base], results[logged]
        print(f"| {base} | {np.median(b):.3f} | 1.000 |")
        print(f"| {logged} | {np.median(lg):.3f} | {_timing.ratio_cell(lg, b)} |")

    print("\nHost calls per second of training (256 iterations, every one logged):")
    for seeds in (1, 4, args.seeds):
        db = os.path.join(tmp, f"count{seeds}.db")
        cb = LoggingCallback(SQLiteBackend(db), name=f"count{seeds}")
        before = host.host_calls("0/logging/log")
        start = time.perf_counter()
        jax.vmap(lambda k, cb=cb: algo.learn(env, policy, TIMESTEPS, key=k, callback=cb))(
            jr.split(jr.key(7), seeds)
        )
        seconds = time.perf_counter() - start
        calls = host.host_calls("0/logging/log") - before
        events = _stored_events(db)
        print(
            f"  {seeds:>3} seeds: {calls} host calls in {seconds:.2f} s -> "
            f"{calls / seconds:.1f} per second; {events} events stored for "
            f"{256 * seeds} member-iterations"
        )

    fresh_lists(algo, env, policy, tmp)


def fresh_lists(algo, env, policy, tmp: str) -> None:
    """The second `learn` with a freshly built callback list against the same objects
    reused: the logger alone, and a sweep's list (the logger plus `SaveCheckpoints`,
    each run with its own run name and checkpoint directory)."""

    def learn(callbacks):
        return lambda k: algo.learn(env, policy, TIMESTEPS, key=k, callback=callbacks)

    def sweep_list(tag):
        saves = SaveCheckpoints(tag, frequency=50, root=os.path.join(tmp, "checkpoints"))
        return [make_logger(tmp, tag), saves]

    cases = (  # title, builder of a list from a run tag, prefix of the tags
        ("A fresh callback list of the same configuration", lambda t: make_logger(tmp, t), ""),
        ("A sweep: fresh logger + SaveCheckpoints, own run name and folder", sweep_list, "sweep-"),
    )
    for title, make, prefix in cases:
        print(f"\n{title} (median of 5, after warm-up):")
        reused = make(f"{prefix}reused")
        for _ in range(2):
            jax.block_until_ready(learn(reused)(jr.key(1)))
        same, fresh = [], []
        for r in range(5):
            same.append(timed(learn(reused), 1, 2000 + r))
            fresh.append(timed(learn(make(f"{prefix}fresh{r}")), 1, 3000 + r))
        ratio = np.median(np.asarray(fresh) / np.asarray(same))
        print(
            f"  same objects {np.median(same):.3f} s, fresh objects {np.median(fresh):.3f} s "
            f"-> {ratio:.3f}x"
        )


def _stored_events(db: str) -> int:
    import sqlite3

    with sqlite3.connect(db) as connection:
        (count,) = connection.execute(
            "SELECT COUNT(*) FROM metrics WHERE key = 'time/iteration'"
        ).fetchone()
    return int(count)


if __name__ == "__main__":
    main()
