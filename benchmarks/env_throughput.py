"""Environment throughput: vmapped `lax.scan` random rollouts with auto-reset.

For every lerax classic-control env at 1, 4, 64 and 1024 envs, and gymnax's CartPole
side by side when gymnax is installed, report env steps per second after compilation.

    python benchmarks/env_throughput.py [--steps 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from lerax import env as lerax_env  # noqa: E402
from lerax.env.wrapper import AutoReset  # noqa: E402

ENVS = ("CartPole", "Acrobot", "MountainCar", "MountainCarContinuous", "Pendulum")
SIZES = (1, 4, 64, 1024)


def lerax_rollout(env, num_envs: int, num_steps: int):
    """A jitted random rollout of `num_envs` auto-resetting envs for `num_steps` steps."""
    wrapped = AutoReset(env)
    space = env.action_space

    def run(key):
        reset_key, run_key = jr.split(key)
        state, _ = jax.vmap(lambda k: wrapped.reset(key=k))(jr.split(reset_key, num_envs))

        def step(state, t):
            k_act, k_env = jr.split(jr.fold_in(run_key, t))
            actions = jax.vmap(lambda k: space.sample(key=k))(jr.split(k_act, num_envs))
            state, obs, reward, term, trunc, _ = jax.vmap(
                lambda s, a, k: wrapped.step(s, a, key=k)
            )(state, actions, jr.split(k_env, num_envs))
            # Consume the observations too: with a constant reward (CartPole) XLA would
            # otherwise drop the dynamics as dead code.
            return state, reward.sum() + obs.sum() + term.sum()

        _, totals = jax.lax.scan(step, state, jnp.arange(num_steps))
        return totals.sum()

    return jax.jit(run)


def steps_per_second(fn, num_envs: int, num_steps: int, repeats: int) -> float:
    jax.block_until_ready(fn(jr.key(0)))
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(jr.key(i + 1)))
        times.append(time.perf_counter() - start)
    return num_envs * num_steps / float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"JAX {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}); "
        f"{args.steps} steps per rollout, median of {args.repeats}"
    )
    try:
        from env_throughput_gymnax import gymnax_cartpole_rollout
    except ImportError as error:
        gymnax_cartpole_rollout = None
        print(f"gymnax not available ({error}); skipping the gymnax column")
    print("| env | " + " | ".join(f"{n} envs" for n in SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    rows = {}
    for name in ENVS:
        env = getattr(lerax_env, name)()
        rates = [
            steps_per_second(lerax_rollout(env, n, args.steps), n, args.steps, args.repeats)
            for n in SIZES
        ]
        rows[name] = rates
        print(f"| lerax {name} | " + " | ".join(f"{r:,.0f}" for r in rates) + " |", flush=True)
    if gymnax_cartpole_rollout is not None:
        rates = [
            steps_per_second(gymnax_cartpole_rollout(n, args.steps), n, args.steps, args.repeats)
            for n in SIZES
        ]
        print("| gymnax CartPole | " + " | ".join(f"{r:,.0f}" for r in rates) + " |")
        # Side by side again at 64 envs, alternating, for the ratio the target is about.
        lx = lerax_rollout(lerax_env.CartPole(), 64, args.steps)
        gx = gymnax_cartpole_rollout(64, args.steps)
        pairs = [
            (
                steps_per_second(lx, 64, args.steps, args.repeats),
                steps_per_second(gx, 64, args.steps, args.repeats),
            )
            for _ in range(3)
        ]
        ratio = float(np.median([a / b for a, b in pairs]))
        print(
            f"\nCartPole at 64 envs, lerax / gymnax throughput (median of 3 alternating "
            f"measurements): {ratio:.2f}x"
        )


if __name__ == "__main__":
    main()
