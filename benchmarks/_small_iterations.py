"""A callback's per-iteration cost, measured where it stands out of the noise.

On these shared 2-core machines one `learn` of the standard PPO CartPole run (256
iterations of 4 envs x 128 steps, 4 epochs x 4 minibatches, ~1.2 s) varies by +-3-5%
from run to run, and two compilations of nearly the same program can differ by as
much (a program with callbacks was measured FASTER than the plain one): a 1% target
cannot be read off a ratio of such runs. A callback's device-side work per iteration
is tens of microseconds, so it is measured instead on small PPO iterations, many of
them, interleaved with plain training of the same shape:

* 1 env x 8 steps, 1 epoch, 1 minibatch (~0.2 ms an iteration): the callback's own
  work is a large part of it;
* the standard rollout (4 envs x 128 steps) with 1 epoch and 1 minibatch: the
  callback sees the arrays of the standard run (episode statistics over 128 x 4).

The estimate for the standard run is `1 + extra per iteration / standard iteration`,
the standard iteration timed in the same process.

With `seeds > 1` every case (and the standard run) is `jax.vmap` over that many
seeds, on the small shape only: a population's log event carries every member (plus
the aggregate run) and the host work per iteration grows with the seeds. On small
iterations the writers then run flat out, beside XLA, so the estimate is an upper
bound of what the same work costs at the standard shape. It holds for work that happens at
every iteration (device-side work, batched crossings); a callback's periodic work
(an evaluation, a checkpoint) is not per iteration and is timed on the standard run.
"""

from __future__ import annotations

from typing import Any

import _timing
import jax
import jax.random as jr
import numpy as np

from lerax.algorithm import PPO
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

STANDARD_TIMESTEPS = 2**17
SHAPES = {
    "1 env x 8 steps, 1 epoch, 1 minibatch": (
        dict(num_envs=1, num_steps=8, num_epochs=1, num_minibatches=1),
        20_000,
    ),
    "4 envs x 128 steps, 1 epoch, 1 minibatch": (
        dict(num_envs=4, num_steps=128, num_epochs=1, num_minibatches=1),
        2_000,
    ),
}


def _learn_with(algo, env, policy, steps, callback, seeds: int = 1):
    if seeds == 1:
        return lambda k: algo.learn(env, policy, steps, key=k, callback=callback)
    learn = jax.vmap(lambda k: algo.learn(env, policy, steps, key=k, callback=callback))
    return lambda k: learn(jr.split(k, seeds))


def report(
    callbacks: dict[str, Any], rounds: int, seeds: int = 1
) -> dict[str, dict[str, float]]:
    """Time plain training and training with each of `callbacks` (name -> callback or
    list) on every shape of `SHAPES` (the first only when `seeds > 1`), interleaved;
    print each shape's table and the estimated ratio on the standard run.

    Returns:
        Shape -> case -> extra seconds per iteration.
    """
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    cases = {"plain": None, **callbacks}
    extra = {}
    shapes = SHAPES if seeds == 1 else dict(list(SHAPES.items())[:1])
    for shape, (settings, iterations) in shapes.items():
        algo = PPO(**settings)
        iterations = iterations if seeds == 1 else iterations // 5
        steps = iterations * algo.steps_per_iteration
        fns = {
            name: _learn_with(algo, env, policy, steps, cb, seeds) for name, cb in cases.items()
        }
        times = _timing.interleaved_times(fns, rounds)
        print(f"\n{shape}, {iterations} iterations:")
        _timing.print_ratio_table(times, rounds, iterations=iterations)
        base = np.median(times["plain"])
        extra[shape] = {n: (np.median(t) - base) / iterations for n, t in times.items()}
    standard = PPO()
    plain = _timing.interleaved_times(
        {"plain": _learn_with(standard, env, policy, STANDARD_TIMESTEPS, None, seeds)}, rounds
    )["plain"]
    per_iteration = np.median(plain) / (STANDARD_TIMESTEPS // standard.steps_per_iteration)
    print(
        f"\nstandard PPO iteration (4 x 128 steps, 4 epochs x 4 minibatches, {seeds} seeds): "
        f"{per_iteration * 1e6:.0f} us; estimated ratio on the standard run "
        "(1 + extra per iteration / standard iteration):"
    )
    print("\n| case | " + " | ".join(shapes) + " |")
    print("|---|" + "---|" * len(shapes))
    for name in callbacks:
        cells = [
            f"{e[name] * 1e6:.0f} us -> {1 + e[name] / per_iteration:.4f}x" for e in extra.values()
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return extra
