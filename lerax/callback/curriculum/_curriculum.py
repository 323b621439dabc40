"""Curricula: callbacks that change environment parameters between iterations.

Both curricula keep the current parameter value in their per-run state and hand it
to the driver through `AbstractCallback.update_env`, which swaps it into the env
stored in the `TrainState` (`eqx.tree_at` with the user's `where`). The env is part
of the compiled loop's carry, so a new value never recompiles anything, and under
`jax.vmap` every member carries its own value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Key, PyTree

from lerax.env import AbstractEnv

from .._context import IterationContext, ResetContext, TrainingContext
from .._partial import AbstractNeverStopping, AbstractWithoutStepState, AbstractWithoutTrainingEnd
from .._schedule import AbstractSchedule
from .._state import AbstractCallbackState, EmptyCallbackStepState

Where = Callable[[AbstractEnv], Any]


def set_env_parameters(owner: str, where: Where, env: AbstractEnv, value: PyTree) -> AbstractEnv:
    """`env` with the array parameter(s) selected by `where` replaced by `value`.

    Each value is cast to its parameter's dtype and broadcast to its shape, so the
    env keeps its structure (it is carried through the compiled loop).

    Args:
        owner: Name used in error messages.
        where: Selects one array field of the env, or a tuple of them, like the
            `where` of `eqx.tree_at` (e.g. `lambda env: env.gravity`).
        env: The environment.
        value: One value per selected parameter, in the same structure as `where(env)`.

    Raises:
        TypeError: if `where` fails or selects something that is not an array.
        ValueError: if `value` does not match the selection (structure or shape).
    """
    try:
        nodes = where(env)
    except (AttributeError, TypeError, IndexError, KeyError) as error:
        raise TypeError(f"{owner}: `where` failed on the env {env.name!r}: {error}") from error
    node_leaves, node_def = jax.tree.flatten(nodes)
    if not node_leaves or not all(eqx.is_array(n) for n in node_leaves):
        raise TypeError(
            f"{owner}: `where` must select array parameter(s) of the env (e.g. "
            f"`lambda env: env.gravity`), got {nodes!r}."
        )
    value_leaves, value_def = jax.tree.flatten(value)
    if value_def != node_def:
        raise ValueError(
            f"{owner}: the value(s) must have the structure of what `where` selects "
            f"({node_def}), got {value_def}."
        )
    new = []
    for v, node in zip(value_leaves, node_leaves, strict=True):
        v = jnp.asarray(v)
        try:
            shape = np.broadcast_shapes(v.shape, node.shape)
        except ValueError:
            shape = None
        if shape != node.shape:
            raise ValueError(
                f"{owner}: a value of shape {v.shape} cannot set an env parameter of shape "
                f"{node.shape}."
            )
        new.append(jnp.broadcast_to(v.astype(node.dtype), node.shape))
    return eqx.tree_at(where, env, replace=jax.tree.unflatten(node_def, new))


def value_log(name: str, value: PyTree) -> dict[str, Array]:
    """`{name}/value` (or `{name}/value_<i>` for several parameters) for every scalar value."""
    leaves = jax.tree.leaves(value)
    out = {}
    for i, leaf in enumerate(leaves):
        if jnp.ndim(leaf) == 0:
            out[f"{name}/value" if len(leaves) == 1 else f"{name}/value_{i}"] = leaf
    return out


def check_name(owner: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{owner}: `name` must be a non-empty str, got {name!r}.")
    return name


def check_where(owner: str, where: object) -> Where:
    if not callable(where):
        raise TypeError(
            f"{owner}: `where` must be a function selecting env parameter(s), e.g. "
            f"`lambda env: env.gravity`, got {where!r}."
        )
    return where


def _is_schedule(x: Any) -> bool:
    return isinstance(x, AbstractSchedule)


class ScheduledCurriculumState(AbstractCallbackState):
    """Per-run state of `ScheduledCurriculum`.

    Attributes:
        progress: The training progress the value was computed at, in `[0, 1]`.
        value: The schedule's value(s) there: what the next iteration trains with.
    """

    progress: Float[Array, ""]
    value: PyTree[Float[Array, "..."]]


class ScheduledCurriculum(
    AbstractWithoutStepState[ScheduledCurriculumState],
    AbstractWithoutTrainingEnd[ScheduledCurriculumState, EmptyCallbackStepState],
    AbstractNeverStopping[ScheduledCurriculumState, EmptyCallbackStepState],
):
    """Set environment parameter(s) from a schedule of training progress.

    Before the first iteration and after every iteration, the parameter(s) selected
    by `where` are set to `schedule(progress)`, with progress = `num_timesteps /
    total_timesteps` clipped to `[0, 1]`. So iteration `k` of `N` trains with the
    value at progress `k / N`: the start value first, the end value reached when the
    budget is spent. The change happens inside the compiled program; every env
    (`num_envs`) uses the same value, and under `jax.vmap` each member uses its own
    (schedules may hold traced numbers).

    The value is reported as `<name>/value` in the training log (`LoggingCallback`
    logs it as `train/<name>/value`), for the iteration that used it.

    Args:
        where: Selects the env parameter(s) to set, like `eqx.tree_at`'s `where`:
            `lambda env: env.gravity`, or `lambda env: (env.gravity, env.length)`.
        schedule: An `AbstractSchedule` (`LinearSchedule`, `CosineSchedule`,
            `StepSchedule`), or one per selected parameter in the same structure
            (a tuple of schedules for a tuple of parameters).
        name: Prefix of the logged values.

    Raises:
        TypeError: if `where` is not callable or `schedule` holds a non-schedule.
    """

    where: Where = eqx.field(static=True)
    schedule: PyTree[AbstractSchedule]
    name: str = eqx.field(static=True)

    def __init__(
        self, where: Where, schedule: PyTree[AbstractSchedule], *, name: str = "curriculum"
    ):
        self.where = check_where("ScheduledCurriculum", where)
        leaves = jax.tree.leaves(schedule, is_leaf=_is_schedule)
        if not leaves or not all(_is_schedule(s) for s in leaves):
            raise TypeError(
                "ScheduledCurriculum: `schedule` must be an AbstractSchedule (LinearSchedule, "
                "CosineSchedule, StepSchedule) or a tuple of them, one per selected "
                f"parameter; got {schedule!r}."
            )
        self.schedule = schedule
        self.name = check_name("ScheduledCurriculum", name)

    def _at(self, progress: Float[Array, ""]) -> ScheduledCurriculumState:
        progress = jnp.clip(jnp.asarray(progress, jnp.float32), 0.0, 1.0)
        value = jax.tree.map(lambda s: s(progress), self.schedule, is_leaf=_is_schedule)
        return ScheduledCurriculumState(progress=progress, value=value)

    def _now(self, ctx: IterationContext | TrainingContext) -> ScheduledCurriculumState:
        return self._at(ctx.num_timesteps / jnp.maximum(ctx.total_timesteps, 1))

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> ScheduledCurriculumState:
        state = self._at(jnp.zeros(()))
        set_env_parameters("ScheduledCurriculum", self.where, ctx.env, state.value)  # checks
        return state

    def on_training_start(
        self, ctx: TrainingContext, *, key: Key[Array, ""]
    ) -> ScheduledCurriculumState:
        return self._now(ctx)  # also right when a run is resumed with fresh states

    def on_iteration(
        self, ctx: IterationContext, *, key: Key[Array, ""]
    ) -> ScheduledCurriculumState:
        return self._now(ctx)

    def update_env(self, env: AbstractEnv, state: ScheduledCurriculumState) -> AbstractEnv:
        return set_env_parameters("ScheduledCurriculum", self.where, env, state.value)

    def log_values(self, state: ScheduledCurriculumState) -> dict[str, Array]:
        return value_log(self.name, state.value)

    def __repr__(self) -> str:
        return f"ScheduledCurriculum({self.schedule!r}, name={self.name!r})"
