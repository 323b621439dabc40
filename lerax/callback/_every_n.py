"""`EveryN`: run a callback's iteration hooks only every N iterations or timesteps."""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Int, Key

from lerax._checks import check_int
from lerax.env import AbstractEnv

from ._abstract import AbstractCallback
from ._context import IterationContext, ResetContext, StepContext, TrainingContext
from ._gating import select_tree, sends_only_when
from ._state import AbstractCallbackState, AbstractCallbackStepState


class EveryNState(AbstractCallbackState):
    """Per-run state of `EveryN`.

    Attributes:
        inner: The wrapped callback's per-run state.
        last_timesteps: `num_timesteps` at the previous iteration.
        due: Whether the wrapped callback ran at the last iteration.
        calls: How many iterations the wrapped callback ran at.
    """

    inner: AbstractCallbackState
    last_timesteps: Int[Array, ""]
    due: Bool[Array, ""]
    calls: Int[Array, ""]


class EveryN(AbstractCallback[EveryNState, AbstractCallbackStepState]):
    """Run `callback`'s `on_iteration` and `continue_training` only every N iterations
    (`iterations=N`: at iterations N, 2N, ...) or whenever the timestep count crosses a
    multiple of N (`timesteps=N`).

    On the other iterations the wrapped state is left unchanged (selected with
    `jnp.where`, so it works per member under `vmap`), the wrapped callback's host
    sends are gated off (`lerax.host.active_scope`), and `continue_training` answers
    True. The wrapped `on_iteration` is still traced and computed every iteration;
    only its effect is discarded. Step hooks (`step_reset`, `on_step`), the
    start/end hooks, `update_env` and `log_values` pass through unchanged, every time
    (the wrapped state only changes when due).

    Args:
        callback: The callback to wrap.
        iterations: Run every `iterations` iterations (static int >= 1).
        timesteps: Run each time the timestep count crosses a multiple of
            `timesteps` (static int >= 1).

    Raises:
        TypeError: if `callback` is not an `AbstractCallback` or N is not an int.
        ValueError: unless exactly one of `iterations` and `timesteps` is given, or
            if it is < 1.
    """

    callback: AbstractCallback
    iterations: int | None = eqx.field(static=True)
    timesteps: int | None = eqx.field(static=True)

    def __init__(
        self,
        callback: AbstractCallback,
        *,
        iterations: int | None = None,
        timesteps: int | None = None,
    ):
        if not isinstance(callback, AbstractCallback):
            raise TypeError(
                f"EveryN: `callback` must be an AbstractCallback, got {type(callback).__name__}."
            )
        if (iterations is None) == (timesteps is None):
            raise ValueError(
                "EveryN: give exactly one of `iterations` and `timesteps` (an int >= 1), "
                f"got iterations={iterations!r}, timesteps={timesteps!r}."
            )
        for name, value in (("iterations", iterations), ("timesteps", timesteps)):
            if value is not None:
                check_int("EveryN", name, value)
        self.callback = callback
        self.iterations = iterations
        self.timesteps = timesteps

    def _due(self, ctx: IterationContext) -> Bool[Array, ""]:
        if self.iterations is not None:
            return ctx.iteration_count % self.iterations == 0
        return ctx.num_timesteps // self.timesteps > ctx.state.last_timesteps // self.timesteps

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EveryNState:
        zero = jnp.zeros((), jnp.int32)
        return EveryNState(
            inner=self.callback.reset(ctx, key=key),
            last_timesteps=zero,
            due=jnp.asarray(False),
            calls=zero,
        )

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> AbstractCallbackStepState:
        return self.callback.step_reset(ctx, key=key)

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> AbstractCallbackStepState:
        return self.callback.on_step(ctx, key=key)

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> EveryNState:
        s = ctx.state
        due = self._due(ctx)
        with sends_only_when(due):
            inner = self.callback.on_iteration(dataclasses.replace(ctx, state=s.inner), key=key)
        return EveryNState(
            inner=select_tree(due, inner, s.inner),
            last_timesteps=ctx.num_timesteps,
            due=due,
            calls=s.calls + due.astype(jnp.int32),
        )

    def _start_end(self, hook, ctx: TrainingContext, key) -> EveryNState:
        inner = hook(dataclasses.replace(ctx, state=ctx.state.inner), key=key)
        return dataclasses.replace(ctx.state, inner=inner)

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> EveryNState:
        return self._start_end(self.callback.on_training_start, ctx, key)

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> EveryNState:
        return self._start_end(self.callback.on_training_end, ctx, key)

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        due = ctx.state.due
        with sends_only_when(due):
            go_on = self.callback.continue_training(
                dataclasses.replace(ctx, state=ctx.state.inner), key=key
            )
        return jnp.where(due, jnp.asarray(go_on, bool), True)

    def update_env(self, env: AbstractEnv, state: EveryNState) -> AbstractEnv:
        return self.callback.update_env(env, state.inner)

    def log_values(self, state: EveryNState) -> dict[str, Array]:
        return self.callback.log_values(state.inner)

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Any]:
        return self.callback.host_receivers(run)

    def config(self) -> dict[str, Any]:
        return {
            "type": "EveryN",
            "callback": self.callback.config(),
            "iterations": self.iterations,
            "timesteps": self.timesteps,
        }

    def __repr__(self) -> str:
        which = (
            f"iterations={self.iterations}"
            if self.iterations is not None
            else f"timesteps={self.timesteps}"
        )
        return f"EveryN({self.callback!r}, {which})"
