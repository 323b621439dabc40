"""Small callbacks used by the callback and algorithm tests."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from lerax.callback import (
    AbstractCallbackState,
    AbstractCallbackStepState,
    AbstractIterationCallback,
    AbstractStatelessCallback,
    AbstractStepCallback,
    AbstractTrainingCallback,
)


class CountStepState(AbstractCallbackStepState):
    steps: jnp.ndarray
    episodes: jnp.ndarray
    reward_sum: jnp.ndarray


class CountSteps(AbstractStepCallback[CountStepState]):
    """Counts steps, finished episodes and summed raw reward per env."""

    def step_reset(self, ctx, *, key):
        zero = jnp.zeros((), jnp.int32)
        return CountStepState(steps=zero, episodes=zero, reward_sum=jnp.zeros(()))

    def on_step(self, ctx, *, key):
        s = ctx.state
        return CountStepState(
            steps=s.steps + 1,
            episodes=s.episodes + ctx.done.astype(jnp.int32),
            reward_sum=s.reward_sum + ctx.reward,
        )


class IterationLogState(AbstractCallbackState):
    iterations: jnp.ndarray
    last_timesteps: jnp.ndarray
    loss_sum: jnp.ndarray


class LogIterations(AbstractIterationCallback[IterationLogState]):
    """Counts iterations, records the last timestep count and sums the loss."""

    def reset(self, ctx, *, key):
        zero = jnp.zeros((), jnp.int32)
        return IterationLogState(iterations=zero, last_timesteps=zero, loss_sum=jnp.zeros(()))

    def on_iteration(self, ctx, *, key):
        s = ctx.state
        return IterationLogState(
            iterations=s.iterations + 1,
            last_timesteps=ctx.num_timesteps,
            loss_sum=s.loss_sum + ctx.training_log["loss"],
        )


class StartEndState(AbstractCallbackState):
    started: jnp.ndarray
    ended: jnp.ndarray
    end_iteration: jnp.ndarray


class StartEnd(AbstractTrainingCallback[StartEndState]):
    """Records that training started and ended, and the iteration at the end."""

    def reset(self, ctx, *, key):
        zero = jnp.zeros((), jnp.int32)
        return StartEndState(started=zero, ended=zero, end_iteration=zero - 1)

    def on_training_start(self, ctx, *, key):
        return StartEndState(ctx.state.started + 1, ctx.state.ended, ctx.state.end_iteration)

    def on_training_end(self, ctx, *, key):
        return StartEndState(ctx.state.started, ctx.state.ended + 1, ctx.iteration_count)


class StopAtIteration(AbstractStatelessCallback):
    """Stops training after iteration `at`."""

    at: int = eqx.field(static=True)

    def continue_training(self, ctx, *, key):
        return ctx.iteration_count < self.at


class StopAfterEpisodes(AbstractStatelessCallback):
    """Stops once `n` episodes have finished (data-dependent, differs across seeds)."""

    n: int = eqx.field(static=True)

    def continue_training(self, ctx, *, key):
        return ctx.num_episodes < self.n


class KeyUser(AbstractStepCallback[CountStepState]):
    """Consumes its keys (draws random numbers) without affecting training."""

    def step_reset(self, ctx, *, key):
        import jax.random as jr

        return CountStepState(
            steps=jnp.zeros((), jnp.int32),
            episodes=jnp.zeros((), jnp.int32),
            reward_sum=jr.normal(key, ()),
        )

    def on_step(self, ctx, *, key):
        import jax.random as jr

        s = ctx.state
        return CountStepState(s.steps + 1, s.episodes, s.reward_sum + jr.normal(key, ()))
