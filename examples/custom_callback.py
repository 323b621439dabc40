"""Two custom callbacks: a step callback counting each env's actions, and an iteration
callback that stops training when PPO's updates get too large.

    python examples/custom_callback.py
    python examples/custom_callback.py --timesteps 4096 --max-kl 0.02 --seeds 3

See docs/writing-callbacks.md for the rules these follow (state in/state out, no Python
side effects, keys, per-env step state). Prints the action counts, where each run
stopped, and the same under jax.vmap over seeds.
"""

from __future__ import annotations

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, Int

from lerax.algorithm import PPO
from lerax.callback import (
    AbstractCallbackState,
    AbstractCallbackStepState,
    AbstractIterationCallback,
    AbstractStepCallback,
)
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy


class ActionCountsState(AbstractCallbackStepState):
    counts: Int[Array, " num_actions"]  # how often this env took each action


class ActionCounts(AbstractStepCallback[ActionCountsState]):
    """Per-env histogram of the discrete actions taken (a step callback)."""

    num_actions: int = eqx.field(static=True)  # fixes the state's shape: static

    def step_reset(self, ctx, *, key):
        return ActionCountsState(counts=jnp.zeros(self.num_actions, jnp.int32))

    def on_step(self, ctx, *, key):  # ONE env; the loop vmaps it over envs
        one_hot = jax.nn.one_hot(ctx.action, self.num_actions, dtype=jnp.int32)
        return ActionCountsState(counts=ctx.state.counts + one_hot)


class KLWatchState(AbstractCallbackState):
    largest: Float[Array, ""]  # largest approx_kl seen
    stop: Bool[Array, ""]


class StopOnLargeKL(AbstractIterationCallback[KLWatchState]):
    """Stop when an iteration's approximate KL divergence exceeds `max_kl` (traced)."""

    max_kl: Float[Array, ""] = eqx.field(converter=jnp.asarray)

    def reset(self, ctx, *, key):
        return KLWatchState(largest=jnp.zeros(()), stop=jnp.asarray(False))

    def on_iteration(self, ctx, *, key):
        kl = ctx.training_log["approx_kl"]
        return KLWatchState(largest=jnp.maximum(ctx.state.largest, kl), stop=kl > self.max_kl)

    def continue_training(self, ctx, *, key):
        return ~ctx.state.stop


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2**16)
    parser.add_argument("--max-kl", type=float, default=0.02)
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args(argv)

    env, algo = CartPole(), PPO()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    callbacks = [ActionCounts(num_actions=int(env.action_space.n)), StopOnLargeKL(args.max_kl)]

    def run(key):
        state = algo.init(env, policy, args.timesteps, key=key, callback=callbacks)
        return algo.train(state, callback=callbacks)

    state = jax.jit(run)(jr.key(1))
    counts = state.callback_step_state.step_states[0].counts  # (num_envs, num_actions)
    watch = state.callback_state.states[1]
    print(f"action counts per env (left, right):\n{counts}")
    print(f"total actions: {int(counts.sum())} = timesteps {int(state.num_timesteps)}")
    print(
        f"iterations: {int(state.iteration)} of {int(state.total_iterations)}; "
        f"stopped on KL: {bool(watch.stop)}; largest approx_kl {float(watch.largest):.4f}"
    )

    states = jax.jit(jax.vmap(run))(jr.split(jr.key(2), args.seeds))
    for seed in range(args.seeds):
        print(
            f"seed {seed}: {int(states.iteration[seed])} iterations, "
            f"stopped: {bool(states.stopped[seed])}, "
            f"largest approx_kl {float(states.callback_state.states[1].largest[seed]):.4f}"
        )


if __name__ == "__main__":
    main()
