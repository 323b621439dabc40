"""PPO on CartPole: lerax vs rejax vs a hand-written PureJaxRL-style PPO, side by side.

Workload (all three): 4 envs x 128 steps, 4 epochs x 4 minibatches, separate actor and
critic MLPs 64x64 tanh, lr 2.5e-4, 2**17 timesteps. lerax and the hand-written baseline
anneal the learning rate linearly; rejax 0.1.3 has no annealing switch (constant lr).
rejax is built by `ppo_baselines.make_rejax_ppo` (same config as `ppo_baselines.py`): its
periodic evaluation is disabled so it adds no work inside the timed call.

Also measured: lerax with one no-op callback of each kind attached (stateless, step,
iteration, training), which must cost <= 1.02x lerax without callbacks.

    python benchmarks/ppo.py [--repeats 5] [--rounds 3] [--first-calls 2]

"First call" (compile + one run) is timed in a fresh Python process per contender,
`--first-calls` times each, contenders alternating: in one shared process the first
contender would also pay JAX's one-time start-up (backend, XLA:CPU and LLVM set-up,
the tracing caches of `jax.numpy`) and the later ones would not.

Needs rejax==0.1.3 and gymnax==0.0.9 for the rejax column (benchmarks/requirements.txt).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

import purejaxrl_ppo  # noqa: E402

from lerax.algorithm import PPO  # noqa: E402
from lerax.callback import (  # noqa: E402
    AbstractCallbackState,
    AbstractIterationCallback,
    AbstractStatelessCallback,
    AbstractStepCallback,
    AbstractTrainingCallback,
    EmptyCallbackStepState,
)
from lerax.env import CartPole  # noqa: E402
from lerax.policy import MLPActorCriticPolicy  # noqa: E402

TIMESTEPS = 2**17


class NoOpStateless(AbstractStatelessCallback):
    pass


class NoOpStep(AbstractStepCallback[EmptyCallbackStepState]):
    def step_reset(self, ctx, *, key):
        return EmptyCallbackStepState()

    def on_step(self, ctx, *, key):
        return ctx.state


class _Counter(AbstractCallbackState):
    n: jax.Array


class NoOpIteration(AbstractIterationCallback[_Counter]):
    def reset(self, ctx, *, key):
        return _Counter(jnp.zeros((), jnp.int32))

    def on_iteration(self, ctx, *, key):
        return ctx.state


class NoOpTraining(AbstractTrainingCallback[_Counter]):
    def reset(self, ctx, *, key):
        return _Counter(jnp.zeros((), jnp.int32))

    def on_training_start(self, ctx, *, key):
        return ctx.state

    def on_training_end(self, ctx, *, key):
        return ctx.state


def lerax_train(callbacks=None):
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo = PPO()
    return lambda key: algo.learn(env, policy, TIMESTEPS, key=key, callback=callbacks)


def rejax_train():
    from ppo_baselines import make_rejax_ppo

    train = jax.jit(make_rejax_ppo(total_timesteps=TIMESTEPS).train)
    return lambda key: train(key)


def handwritten_train():
    return jax.jit(purejaxrl_ppo.make_train(total_timesteps=TIMESTEPS))


def first_call(make):
    fn = make()
    start = time.perf_counter()
    jax.block_until_ready(fn(jr.key(0)))
    return time.perf_counter() - start, fn


def fresh_process_first_calls(names: list[str], times: int) -> dict[str, float]:
    """Median first-call seconds of each contender, each call in a new process."""
    calls: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(times):
        for name in names:
            out = subprocess.run(
                [sys.executable, __file__, "--first-call-of", name],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            line = next(x for x in out.splitlines() if x.startswith("FIRST_CALL "))
            calls[name].append(float(line.split()[1]))
    return {name: float(np.median(c)) for name, c in calls.items()}


def one_run(fn, seed):
    """(wall seconds, process CPU seconds) of one call; CPU time is far less sensitive
    to other processes' load on a shared machine than wall time."""
    start, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn(jr.key(seed)))
    return time.perf_counter() - start, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--first-calls", type=int, default=2)
    parser.add_argument("--first-call-of", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    noop = [NoOpStateless(), NoOpStep(), NoOpIteration(), NoOpTraining()]
    contenders = {
        "lerax PPO": lambda: lerax_train(None),
        "lerax PPO + 4 no-op callbacks": lambda: lerax_train(noop),
        "hand-written PureJaxRL-style PPO": handwritten_train,
    }
    try:
        import rejax  # noqa: F401

        contenders["rejax PPO 0.1.3"] = rejax_train
    except ImportError as error:
        print(f"rejax not installed ({error}); skipping it")
    if args.first_call_of is not None:
        print(f"FIRST_CALL {first_call(contenders[args.first_call_of])[0]!r}")
        return
    print(
        f"JAX {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs; "
        f"{TIMESTEPS} timesteps; steady state = median of {args.rounds * args.repeats} "
        f"runs, contenders interleaved run by run; first call = median of "
        f"{args.first_calls} fresh processes each"
    )
    firsts = fresh_process_first_calls(list(contenders), args.first_calls)
    fns = {name: make() for name, make in contenders.items()}
    for fn in fns.values():  # compile (timed above, in fresh processes)
        jax.block_until_ready(fn(jr.key(0)))
    # Interleave run by run (A B C D A B C D ...) so that load from other processes
    # hits every contender alike; ratios are taken per round of one run each.
    results = {name: [] for name in contenders}
    cpu = {name: [] for name in contenders}
    for r in range(args.rounds * args.repeats):
        for name, fn in fns.items():
            wall, cpu_s = one_run(fn, seed=r + 1)
            results[name].append(wall)
            cpu[name].append(cpu_s)
    base = "lerax PPO"
    print(
        "\n| implementation | first call (s) | steady state (s) | steps/s | "
        "CPU s per call | wall ratio to lerax | CPU ratio to lerax |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in contenders:
        t = float(np.median(results[name]))
        c = float(np.median(cpu[name]))
        ratio = t / float(np.median(results[base]))
        cpu_ratio = c / float(np.median(cpu[base]))
        print(
            f"| {name} | {firsts[name]:.2f} | {t:.3f} | {TIMESTEPS / t:,.0f} | {c:.3f} | "
            f"{ratio:.3f} | {cpu_ratio:.3f} |"
        )
    lx = np.asarray(results[base])
    print("\nMedian of per-round ratios (each round runs every contender once, side by side):")
    for name in contenders:
        if name != base:
            ratios = np.asarray(results[name]) / lx
            print(
                f"  {name} / lerax: {np.median(ratios):.3f} "
                f"(quartiles {np.quantile(ratios, 0.25):.3f}-{np.quantile(ratios, 0.75):.3f})"
            )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak RSS of the whole process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
