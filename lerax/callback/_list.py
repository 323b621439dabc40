"""Composing callbacks: `CallbackList` threads a tuple of child states like `optax.chain`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Key

from lerax import host
from lerax.env import AbstractEnv

from ._abstract import AbstractCallback
from ._context import IterationContext, ResetContext, StepContext, TrainingContext
from ._state import AbstractCallbackState, AbstractCallbackStepState


class CallbackListState(AbstractCallbackState):
    """The per-run states of a `CallbackList`'s children, in order."""

    states: tuple[AbstractCallbackState, ...]


class CallbackListStepState(AbstractCallbackStepState):
    """The per-env step states of a `CallbackList`'s children, in order."""

    step_states: tuple[AbstractCallbackStepState, ...]


class CallbackList(AbstractCallback[CallbackListState, CallbackListStepState]):
    """Run several callbacks as one.

    Each child receives its own state and its own key (split from the list's key by
    position); `continue_training` is the AND of the children's answers; `update_env`
    applies the children's env updates in order; `log_values` merges their values.

    Args:
        callbacks: The callbacks, in the order their hooks run.

    Raises:
        TypeError: if an element is not an `AbstractCallback`.
    """

    callbacks: tuple[AbstractCallback, ...]

    def __init__(self, callbacks: Sequence[AbstractCallback] = ()):
        callbacks = tuple(callbacks)
        for i, callback in enumerate(callbacks):
            if not isinstance(callback, AbstractCallback):
                raise TypeError(
                    f"CallbackList: `callbacks[{i}]` must be an AbstractCallback, "
                    f"got {type(callback).__name__}: {callback!r}."
                )
        self.callbacks = callbacks

    def _keys(self, key: Key[Array, ""]) -> Sequence[Key[Array, ""]]:
        return jr.split(key, max(len(self.callbacks), 1))

    def _each(self, call, ctx=None, states=None, step_states=None):
        """`call(i, child, ctx, state, step_state)` for every child, inside the child's
        channel scope (its channels are named by its position, see
        `lerax.host.channel_scope`).

        In a program that spans several processes each child runs after the one
        before it (`lerax.host.after_previous`), so their crossings' collectives
        are issued in the same order on every process."""
        out = []
        for i, callback in enumerate(self.callbacks):
            with host.channel_scope(str(i)):
                args = host.after_previous(
                    (
                        ctx,
                        None if states is None else states[i],
                        None if step_states is None else step_states[i],
                    )
                )
                result = call(i, callback, *args)
                host.mark(result)
                out.append(result)
        return tuple(out)

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> CallbackListState:
        keys = self._keys(key)
        return CallbackListState(self._each(lambda i, cb, c, s, ss: cb.reset(c, key=keys[i]), ctx))

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> CallbackListStepState:
        keys = self._keys(key)
        return CallbackListStepState(
            self._each(lambda i, cb, c, s, ss: cb.step_reset(c, key=keys[i]), ctx)
        )

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> CallbackListStepState:
        keys = self._keys(key)
        return CallbackListStepState(
            self._each(
                lambda i, cb, c, s, ss: cb.on_step(dataclasses.replace(c, state=s), key=keys[i]),
                ctx,
                ctx.state.step_states,
            )
        )

    def _with_children(self, ctx: IterationContext | TrainingContext, key, hook):
        """`hook(child)(child's ctx, key=...)` for every child, in its channel scope."""
        keys = self._keys(key)
        states, step_states = ctx.state.states, ctx.step_state.step_states
        if not len(states) == len(step_states) == len(self.callbacks):
            raise ValueError(
                f"CallbackList: {len(self.callbacks)} callbacks but {len(states)} states "
                f"and {len(step_states)} step states; pass the callbacks the state was "
                "made with (or give it fresh states with `algorithm.with_callbacks`)."
            )
        return self._each(
            lambda i, cb, c, s, ss: hook(cb)(
                dataclasses.replace(c, state=s, step_state=ss), key=keys[i]
            ),
            ctx,
            states,
            step_states,
        )

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> CallbackListState:
        return CallbackListState(self._with_children(ctx, key, lambda cb: cb.on_iteration))

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> CallbackListState:
        return CallbackListState(self._with_children(ctx, key, lambda cb: cb.on_training_start))

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> CallbackListState:
        return CallbackListState(self._with_children(ctx, key, lambda cb: cb.on_training_end))

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        go_on = jnp.asarray(True)
        for answer in self._with_children(ctx, key, lambda cb: cb.continue_training):
            go_on = go_on & answer
        return go_on

    def update_env(self, env: AbstractEnv, state: CallbackListState) -> AbstractEnv:
        for i, (cb, s) in enumerate(zip(self.callbacks, state.states, strict=True)):
            with host.channel_scope(str(i)):
                env = cb.update_env(env, s)
        return env

    def log_values(self, state: CallbackListState) -> dict[str, Array]:
        values: dict[str, Array] = {}
        for i, (cb, s) in enumerate(zip(self.callbacks, state.states, strict=True)):
            with host.channel_scope(str(i)):
                child = cb.log_values(s)
            for name, value in child.items():
                if name in values:
                    raise ValueError(
                        f"CallbackList: two callbacks report the log value {name!r}; give "
                        "them distinct names."
                    )
                values[name] = value
        return values

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Any]:
        receivers: dict[str, Any] = {}
        for i, cb in enumerate(self.callbacks):
            receivers.update(host.prefixed(str(i), cb.host_receivers(run)))
        return receivers

    def config(self) -> dict[str, Any]:
        return {"type": "CallbackList", "callbacks": [cb.config() for cb in self.callbacks]}

    def __repr__(self) -> str:
        return f"CallbackList({list(self.callbacks)!r})"


def as_callback(callback: Any) -> CallbackList:
    """Normalise the `callback` argument of `learn` / `init` / `train`.

    Args:
        callback: `None`, one `AbstractCallback`, or a list/tuple of them.

    Returns:
        A `CallbackList` (possibly empty). A `CallbackList` is returned unchanged.

    Raises:
        TypeError: for anything else, naming what was passed.
    """
    if callback is None:
        return CallbackList(())
    if isinstance(callback, CallbackList):
        return callback
    if isinstance(callback, AbstractCallback):
        return CallbackList((callback,))
    if isinstance(callback, (list, tuple)):
        return CallbackList(callback)
    raise TypeError(
        "`callback` must be None, an AbstractCallback, or a list of AbstractCallbacks; "
        f"got {type(callback).__name__}: {callback!r}."
    )
