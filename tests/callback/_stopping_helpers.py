"""Test helpers for the stopping, evaluation and EveryN callbacks: an independent
per-iteration recorder, an env whose reward turns NaN, and the rules in numpy."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from lerax.callback import AbstractCallback, AbstractCallbackState, AbstractCallbackStepState
from lerax.env import AbstractEnv, CartPole

MAX_ITERATIONS = 40


class RecorderStepState(AbstractCallbackStepState):
    running: jnp.ndarray
    finished: jnp.ndarray
    finished_return: jnp.ndarray
    nan_reward: jnp.ndarray


class RecorderState(AbstractCallbackState):
    seen_finished: jnp.ndarray
    seen_return: jnp.ndarray
    count: jnp.ndarray  # (MAX_ITERATIONS,) episodes finished during iteration i + 1
    mean_return: jnp.ndarray  # their mean return (NaN if none)
    num_episodes: jnp.ndarray  # ctx.num_episodes after iteration i + 1
    nan_reward: jnp.ndarray  # a NaN reward was seen up to iteration i + 1
    log: dict  # training_log entries per iteration
    watched: jnp.ndarray  # a float of another callback's state, one iteration late


class Recorder(AbstractCallback[RecorderState, RecorderStepState]):
    """Records, per iteration, the episodes that finished and their mean return using
    cumulative totals (a different method than the callbacks under test), the
    training log, and optionally `field` of the state of callback `watch` (read from
    `ctx.train_state`, so as it was after the previous iteration)."""

    log_keys: tuple[str, ...] = eqx.field(static=True, default=())
    watch: int | None = eqx.field(static=True, default=None)
    field: str = eqx.field(static=True, default="")

    def reset(self, ctx, *, key):
        nan = jnp.full((MAX_ITERATIONS,), jnp.nan)
        zero = jnp.zeros((MAX_ITERATIONS,), jnp.int32)
        return RecorderState(
            seen_finished=jnp.zeros((), jnp.int32),
            seen_return=jnp.zeros(()),
            count=zero,
            mean_return=nan,
            num_episodes=zero,
            nan_reward=jnp.zeros((MAX_ITERATIONS,), bool),
            log={k: nan for k in self.log_keys},
            watched=nan,
        )

    def step_reset(self, ctx, *, key):
        return RecorderStepState(
            jnp.zeros(()), jnp.zeros((), jnp.int32), jnp.zeros(()), jnp.asarray(False)
        )

    def on_step(self, ctx, *, key):
        s = ctx.state
        running = s.running + ctx.reward
        return RecorderStepState(
            running=jnp.where(ctx.done, 0.0, running),
            finished=s.finished + ctx.done,
            finished_return=s.finished_return + jnp.where(ctx.done, running, 0.0),
            nan_reward=s.nan_reward | jnp.isnan(ctx.reward),
        )

    def on_iteration(self, ctx, *, key):
        s, steps, i = ctx.state, ctx.step_state, ctx.iteration_count - 1
        finished, total = steps.finished.sum(), steps.finished_return.sum()
        count = finished - s.seen_finished
        mean = jnp.where(count > 0, (total - s.seen_return) / count, jnp.nan)
        watched = s.watched
        if self.watch is not None:
            other = ctx.train_state.callback_state.states[self.watch]
            value = jnp.where(i > 0, getattr(other, self.field), watched[0])
            watched = watched.at[jnp.maximum(i - 1, 0)].set(value)
        return RecorderState(
            seen_finished=finished,
            seen_return=total,
            count=s.count.at[i].set(count),
            mean_return=s.mean_return.at[i].set(mean),
            num_episodes=s.num_episodes.at[i].set(ctx.num_episodes),
            nan_reward=s.nan_reward.at[i].set(jnp.any(steps.nan_reward)),
            log={k: s.log[k].at[i].set(ctx.training_log[k]) for k in self.log_keys},
            watched=watched,
        )

    def on_training_start(self, ctx, *, key):
        return ctx.state

    def on_training_end(self, ctx, *, key):
        return ctx.state

    def continue_training(self, ctx, *, key):
        return jnp.asarray(True)


class NaNRewardCartPole(AbstractEnv):
    """CartPole whose reward is NaN at the step where an episode reaches `nan_at` steps."""

    inner: CartPole
    nan_at: jnp.ndarray

    @property
    def name(self):
        return "NaNRewardCartPole"

    @property
    def observation_space(self):
        return self.inner.observation_space

    @property
    def action_space(self):
        return self.inner.action_space

    def reset(self, *, key):
        return self.inner.reset(key=key)

    def step(self, state, action, *, key):
        state, obs, reward, terminated, truncated, info = self.inner.step(state, action, key=key)
        reward = jnp.where(state.time >= self.nan_at, jnp.nan, reward)
        return state, obs, reward, terminated, truncated, info

    def render(self, state, *, width=600, height=400):
        return self.inner.render(state, width=width, height=height)


# ----------------------------------------------------------------- rules in numpy


def first(flags) -> int | None:
    """1-based iteration of the first True flag (None if none)."""
    hits = np.flatnonzero(np.asarray(flags))
    return int(hits[0]) + 1 if hits.size else None


def early_stopping_rule(means, counts, target, patience):
    streak, out = 0, []
    for mean, count in zip(means, counts, strict=True):
        if count > 0:
            streak = streak + 1 if mean >= target else 0
        out.append(streak >= patience)
    return out


def no_improvement_rule(means, counts, patience, min_iterations):
    best, since, out = -np.inf, 0, []
    for i, (mean, count) in enumerate(zip(means, counts, strict=True), start=1):
        if count > 0:
            if mean > best:
                best, since = mean, 0
            elif i > min_iterations:
                since += 1
        out.append(since >= patience)
    return out


def member(tree, i):
    """Member `i` of a vmapped pytree."""
    return jax.tree.map(lambda x: x[i], tree)
