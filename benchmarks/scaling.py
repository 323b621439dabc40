"""Scaling of a vmapped population (issue 7): seeds on one device, and simulated devices.

PPO on CartPole (4 envs x 128 steps, 4 epochs x 4 minibatches), 2**17 timesteps per
seed, with LoggingCallback (SQLite, every 8 iterations) + EarlyStopping (unreachable
target, so every member runs its whole budget) + ProgressBarCallback (plain text to a
buffer) attached, through `lerax.population.train_population`.

* Seeds: wall time of 1, 4, 16 and 64 vmapped seeds (first call = compile + run, then
  the median of `--repeats` steady calls with fresh keys, no retrace), the ratio 16
  seeds / 1 seed, and the host calls per log event (must be 1 at every seed count).
* Devices: throughput of `--device-seeds` seeds sharded over 1, 4 and 8 simulated CPU
  devices (`XLA_FLAGS=--xla_force_host_platform_device_count=N`, one subprocess
  each). Simulated devices share the same cores: report only.
* `--cpu-devices N`: the seeds part with N CPU devices (one per core on a CPU
  host), every seed count they divide sharded over them with `shard="seeds"`: the way
  to use all cores of a CPU for a population (one XLA:CPU device runs a vmapped
  population on about one core).

    python benchmarks/scaling.py                 # everything
    python benchmarks/scaling.py --part seeds --seeds 1 16    # a subset
    python benchmarks/scaling.py --part devices  # only the device part
    python benchmarks/scaling.py --part seeds --cpu-devices 2  # seeds sharded per core
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

TIMESTEPS = 2**17
LOG_INTERVAL = 8


def build(db: str, name: str):
    from lerax.algorithm import PPO
    from lerax.callback import EarlyStopping, LoggingCallback, ProgressBarCallback, SQLiteBackend
    from lerax.env import CartPole
    from lerax.policy import MLPActorCriticPolicy

    env = CartPole()
    algo = PPO()
    policy = MLPActorCriticPolicy(env=env, key=__import__("jax").random.key(0))
    logger = LoggingCallback(SQLiteBackend(db), name=name, log_interval=LOG_INTERVAL)
    callbacks = [logger, EarlyStopping(1e9), ProgressBarCallback(stream=io.StringIO())]
    return env, algo, policy, logger, callbacks


def time_seeds(num_seeds: int, repeats: int, shard: str | None = None) -> dict:
    import jax
    import jax.random as jr

    from lerax import host
    from lerax.population import train_population

    db = os.path.join(tempfile.mkdtemp(prefix="lerax-scaling-"), "runs.db")
    env, algo, policy, logger, callbacks = build(db, f"seeds{num_seeds}")
    channel = "0/logging/log"  # the logger is the first callback: position 0
    iterations = TIMESTEPS // algo.steps_per_iteration
    events = iterations // LOG_INTERVAL

    def call(seed: int):
        before = host.host_calls(channel)
        start = time.perf_counter()
        population = train_population(
            algo,
            env,
            policy,
            TIMESTEPS,
            key=jr.key(seed),
            num_seeds=num_seeds,
            callback=callbacks,
            shard=shard,
        )
        jax.block_until_ready(population.state)
        elapsed = time.perf_counter() - start
        assert int(population.iteration.min()) == iterations, "every member runs its budget"
        return elapsed, (host.host_calls(channel) - before) / events

    first, calls_per_event = call(0)
    times = []
    for r in range(repeats):
        elapsed, per_event = call(r + 1)
        times.append(elapsed)
        calls_per_event = max(calls_per_event, per_event)
    steady = statistics.median(times)
    return {
        "seeds": num_seeds,
        "first_s": round(first, 2),
        "steady_s": round(steady, 3),
        "times_s": [round(t, 3) for t in times],
        "steps_per_s": round(num_seeds * TIMESTEPS / steady),
        "host_calls_per_log_event": calls_per_event,
        "devices": jax.device_count(),
    }


def seeds_part(counts: list[int], repeats: int) -> None:
    """Time every seed count in this process; with several CPU devices (see
    `--cpu-devices`), a seed count they divide is sharded over them."""
    import jax

    devices = jax.device_count()
    print(f"JAX {jax.__version__} on {jax.devices()[0].device_kind} ({jax.default_backend()}), "
          f"{devices} device(s), load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    results = {}
    for n in counts:
        shard = "seeds" if devices > 1 and n % devices == 0 else None
        results[n] = time_seeds(n, repeats, shard=shard)
        results[n]["sharded"] = shard is not None
        print(json.dumps(results[n]), flush=True)
    print("\n| seeds | sharded over | first call (s) | steady (s) | steps/s | "
          "host calls per log event |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for n, r in results.items():
        over = f"{devices} devices" if r["sharded"] else "1 device"
        print(f"| {n} | {over} | {r['first_s']} | {r['steady_s']} | {r['steps_per_s']:,} | "
              f"{r['host_calls_per_log_event']:g} |")  # fmt: skip
    if 1 in results and 16 in results:
        ratio = results[16]["steady_s"] / results[1]["steady_s"]
        print(f"\n16 seeds / 1 seed (steady, {devices} device(s)): {ratio:.2f}x (target <= 6x)")


def devices_part(counts: list[int], num_seeds: int, repeats: int) -> None:
    print(f"\n{num_seeds} seeds sharded over simulated CPU devices (shared cores; report only)")
    print("| devices | first call (s) | steady (s) | steps/s | host calls per log event |")
    print("|---|---|---|---|---|")
    for n in counts:
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"  # XLA's SPMD warnings about the host gather
        args = [sys.executable, __file__, "--one-device-run", str(n), str(num_seeds)]
        args += ["--repeats", str(repeats)]
        out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {r['devices']} | {r['first_s']} | {r['steady_s']} | {r['steps_per_s']:,} | "
              f"{r['host_calls_per_log_event']:g} |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 4, 16, 64])
    parser.add_argument("--devices", type=int, nargs="*", default=[1, 4, 8])
    parser.add_argument("--device-seeds", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--part", choices=("all", "seeds", "devices"), default="all")
    parser.add_argument(
        "--cpu-devices",
        type=int,
        default=1,
        help="seeds part: expose this many CPU devices (jax_num_cpu_devices; e.g. one per "
        "core) and shard every seed count they divide over them",
    )
    parser.add_argument("--one-device-run", type=int, nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_device_run is not None:
        devices, seeds = args.one_device_run
        shard = "seeds" if devices > 1 else None
        print(json.dumps(time_seeds(seeds, args.repeats, shard=shard)))
        return
    if args.part in ("all", "seeds"):
        if args.cpu_devices > 1:
            import jax

            jax.config.update("jax_num_cpu_devices", args.cpu_devices)
        seeds_part(args.seeds, args.repeats)
    if args.part in ("all", "devices"):
        devices_part(args.devices, args.device_seeds, args.repeats)


if __name__ == "__main__":
    main()
