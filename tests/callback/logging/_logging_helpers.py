"""Helpers for the logging tests: a recording backend and an independent reference."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from lerax.callback import AbstractCallbackStepState, AbstractStepCallback
from lerax.callback.logging import AbstractLoggingBackend


class RecordingBackend(AbstractLoggingBackend):
    """Keeps every event in memory; `opened` collects every opened copy (class-wide)."""

    opened: list = []

    def __init__(self, fail_on: str | None = None):
        self.fail_on = fail_on

    def open(self, name, *, metadata=None):
        self.name, self.metadata, self.events = name, metadata, []
        self.hparams, self.scalars, self.videos, self.closed = None, [], [], False
        RecordingBackend.opened.append(self)
        self._maybe_fail("open")

    def _maybe_fail(self, what):
        if self.fail_on == what:
            raise RuntimeError(f"injected failure in {what}")

    def log_hparams(self, hparams):
        self._maybe_fail("log_hparams")
        self.hparams = dict(hparams)

    def log_scalars(self, scalars, step):
        self._maybe_fail("log_scalars")
        self.scalars.append((step, dict(scalars)))

    def log_video(self, tag, frames, step, fps):
        self._maybe_fail("log_video")
        self.videos.append((tag, np.array(frames), step, fps))

    def close(self):
        self.closed = True


class RawRecordState(AbstractCallbackStepState):
    rewards: jnp.ndarray
    dones: jnp.ndarray
    t: jnp.ndarray


class RecordRaw(AbstractStepCallback[RawRecordState]):
    """Records every raw reward and done flag of every env (test reference only)."""

    length: int

    def step_reset(self, ctx, *, key):
        return RawRecordState(
            jnp.zeros(self.length), jnp.zeros(self.length, bool), jnp.zeros((), jnp.int32)
        )

    def on_step(self, ctx, *, key):
        s = ctx.state
        return RawRecordState(
            s.rewards.at[s.t].set(ctx.reward), s.dones.at[s.t].set(ctx.done), s.t + 1
        )


def reference_events(rewards, dones, num_steps, alpha, log_interval=1):
    """Expected logged values, computed with plain numpy loops.

    An event is logged every `log_interval` iterations and at the last iteration of
    the arrays; its episode statistics cover the episodes finished since the previous
    event, and the moving statistics move only when an event is logged.

    Args:
        rewards, dones: `(num_envs, total_steps)` raw rewards and done flags.
        num_steps: Steps per env per iteration.
        alpha: EMA weight.
        log_interval: Iterations between events.
    """
    num_envs, total = rewards.shape
    iterations = total // num_steps
    running = np.zeros(num_envs)
    length = np.zeros(num_envs, int)
    ema = np.full(num_envs, np.nan)
    ema_len = np.full(num_envs, np.nan)
    events = []
    moving = None
    moving_sq = None
    finished, lengths = [], []
    for it in range(iterations):
        for t in range(it * num_steps, (it + 1) * num_steps):
            for e in range(num_envs):
                running[e] += rewards[e, t]
                length[e] += 1
                if dones[e, t]:
                    finished.append(running[e])
                    lengths.append(length[e])
                    ema[e] = (
                        running[e]
                        if np.isnan(ema[e])
                        else alpha * running[e] + (1 - alpha) * ema[e]
                    )
                    ema_len[e] = (
                        length[e]
                        if np.isnan(ema_len[e])
                        else alpha * length[e] + (1 - alpha) * ema_len[e]
                    )
                    running[e], length[e] = 0.0, 0
        if (it + 1) % log_interval and it + 1 != iterations:
            continue
        event = {"episode/count": len(finished)}
        if finished:
            mean = float(np.mean(finished))
            event.update(
                {
                    "episode/return_mean": mean,
                    "episode/return_min": float(np.min(finished)),
                    "episode/return_max": float(np.max(finished)),
                    "episode/length_mean": float(np.mean(lengths)),
                }
            )
            moving = mean if moving is None else alpha * mean + (1 - alpha) * moving
            moving_sq = mean**2 if moving_sq is None else alpha * mean**2 + (1 - alpha) * moving_sq
        started = ~np.isnan(ema)
        if started.any():
            event["episode/return_ema"] = float(ema[started].mean())
            event["episode/length_ema"] = float(ema_len[started].mean())
        if moving is not None:
            std = np.sqrt(max(moving_sq - moving**2, 0.0))
            event["reward/moving_avg"] = moving
            event["reward/moving_upper"] = moving + std
            event["reward/moving_lower"] = moving - std
        event["time/timesteps"] = (it + 1) * num_steps * num_envs
        event["time/iteration"] = it + 1
        events.append(event)
        finished, lengths = [], []
    return events
