"""Stop PPO on CartPole as soon as the episodic return reaches a target.

    python examples/early_stopping.py                          # target 475, up to 2**18 steps
    python examples/early_stopping.py --timesteps 16384 --target 50

Prints after which iteration training stopped and why.
"""

from __future__ import annotations

import argparse

import jax.random as jr

from lerax.algorithm import PPO
from lerax.callback import EarlyStopping, PrintProgress, StopReason
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2**18)
    parser.add_argument("--target", type=float, default=475.0)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    env, algo = CartPole(), PPO()
    policy_key, train_key = jr.split(jr.key(args.seed))
    policy = MLPActorCriticPolicy(env=env, key=policy_key)
    callbacks = [EarlyStopping(args.target, patience=args.patience), PrintProgress(every=16)]

    # init + train instead of learn: the TrainState says when and why training stopped.
    state = algo.init(env, policy, args.timesteps, key=train_key, callback=callbacks)
    state = algo.train(state, callback=callbacks)

    early = state.callback_state.states[0]
    print(
        f"iterations run: {int(state.iteration)} of {int(state.total_iterations)}; "
        f"timesteps: {int(state.num_timesteps)}; stopped early: {bool(state.stopped)}"
    )
    print(
        f"reason: {StopReason(int(early.reason)).name}; "
        f"last measured mean return: {float(early.last_mean_return):.1f}"
    )


if __name__ == "__main__":
    main()
