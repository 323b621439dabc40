"""`LevelCurriculum`: step through env parameter levels as the agent masters each one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, Key, PyTree

from lerax._checks import check_int
from lerax.env import AbstractEnv

from .._context import IterationContext, ResetContext
from .._partial import AbstractIterationCallback
from .._schedule import is_real
from .._state import AbstractCallbackState, AbstractCallbackStepState
from ._curriculum import Where, check_name, check_where, set_env_parameters, value_log

_OWNER = "LevelCurriculum"
METRICS = ("episode_return", "episode_length")
MODES = ("max", "min")


class EpisodeStatsStepState(AbstractCallbackStepState):
    """Per-env accounting of the episodes that finished during one iteration.

    No longer used by `LevelCurriculum`, which reads the driver's
    `IterationContext.episodes`; kept so that the name stays importable.

    Attributes:
        iteration: The iteration the window describes (-1 before the first step).
        episode_return: Return of the episode in progress.
        episode_length: Length of the episode in progress.
        count: Episodes this env finished during `iteration`.
        return_sum: Sum of their returns.
        length_sum: Sum of their lengths.
    """

    iteration: Int[Array, ""]
    episode_return: Float[Array, ""]
    episode_length: Int[Array, ""]
    count: Int[Array, ""]
    return_sum: Float[Array, ""]
    length_sum: Float[Array, ""]


class LevelCurriculumState(AbstractCallbackState):
    """Per-run state of `LevelCurriculum`.

    Attributes:
        level: The current level (index into `levels`): what the next iteration
            trains with.
        iterations_at_level: Iterations completed at the current level.
        window_sum: Per iteration of the window (a ring over the last `window`
            iterations at this level), the summed metric of the episodes that
            finished in it.
        window_count: The number of those episodes.
        metric: The metric at the last iteration (NaN when it could not be measured:
            window not full or too few episodes).
        entered: The iteration count at which each level was entered (0 for level 0,
            -1 for levels not reached).
    """

    level: Int[Array, ""]
    iterations_at_level: Int[Array, ""]
    window_sum: Float[Array, " window"]
    window_count: Int[Array, " window"]
    metric: Float[Array, ""]
    entered: Int[Array, " num_levels"]


class LevelCurriculum(AbstractIterationCallback[LevelCurriculumState]):
    """Train on `levels[0]`, then move to the next level each time the agent masters
    the current one.

    The metric is the mean `metric` (episode return or length) of the episodes that
    finished, in any env, during the last `window` iterations spent at the current
    level (the driver's `IterationContext.episodes`: no per-step work). After an
    iteration at which it is measured (`window` iterations at this level and at least
    `min_episodes` episodes in them) and reaches the threshold (`>= threshold` for
    `mode="max"`, `<= threshold` for `"min"`), the curriculum
    moves to the next level: from the next iteration on every env trains with it, and
    the window starts empty again. The last level is kept for the rest of training.
    An episode that straddles a level change counts at the level it finishes in.

    Under `jax.vmap` each member moves through the levels on its own. The level and
    its value(s) are reported as `<name>/level` and `<name>/value` in the training log
    (`LoggingCallback` logs them as `train/<name>/...`), for the iteration that used
    them; `state.entered` records when each level was reached.

    Args:
        where: Selects the env parameter(s) to set, like `eqx.tree_at`'s `where`:
            `lambda env: env.gravity`, or `lambda env: (env.gravity, env.length)`.
        levels: The values, easiest first: a sequence of at least two entries, each
            a number (or array) per selected parameter in `where`'s structure; or an
            array with a leading level axis. May be traced.
        metric: `"episode_return"` or `"episode_length"`.
        threshold: The value the metric must reach to leave a level: a number, or one
            per level but the last (`len(levels) - 1` values). May be traced.
        window: Iterations the metric is averaged over (static int >= 1).
        min_episodes: Episodes the window must hold to be measured (static int >= 1).
        mode: `"max"` (advance when the metric is `>= threshold`) or `"min"` (`<=`).
        name: Prefix of the logged values.

    Raises:
        TypeError: for a non-callable `where`, non-numeric levels or threshold, or a
            bad `window`, `min_episodes` or `name`.
        ValueError: for fewer than two levels, levels of different shapes, a wrong
            number of thresholds, a NaN threshold, or an unknown `metric` or `mode`.
    """

    where: Where = eqx.field(static=True)
    levels: PyTree[Float[Array, "num_levels ..."]]
    threshold: Float[Array, " num_levels_minus_one"]
    metric: str = eqx.field(static=True)
    window: int = eqx.field(static=True)
    min_episodes: int = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    name: str = eqx.field(static=True)
    num_levels: int = eqx.field(static=True)

    def __init__(
        self,
        where: Where,
        levels: Sequence[PyTree[Float[ArrayLike, "..."]]] | Float[ArrayLike, "num_levels ..."],
        metric: Literal["episode_return", "episode_length"],
        threshold: Float[ArrayLike, ""] | Sequence[float],
        *,
        window: int = 1,
        min_episodes: int = 1,
        mode: Literal["max", "min"] = "max",
        name: str = "curriculum",
    ):
        self.where = check_where(_OWNER, where)
        self.levels, self.num_levels = _stack_levels(levels)
        if metric not in METRICS:
            raise ValueError(f"{_OWNER}: `metric` must be one of {METRICS}, got {metric!r}.")
        if mode not in MODES:
            raise ValueError(f"{_OWNER}: `mode` must be one of {MODES}, got {mode!r}.")
        self.metric, self.mode = metric, mode
        self.threshold = _thresholds(threshold, self.num_levels)
        check_int(_OWNER, "window", window)
        check_int(_OWNER, "min_episodes", min_episodes)
        self.window, self.min_episodes = window, min_episodes
        self.name = check_name(_OWNER, name)

    def _value(self, level: Int[Array, ""]) -> PyTree[Array]:
        return jax.tree.map(lambda x: x[level], self.levels)

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> LevelCurriculumState:
        zero = jnp.zeros((), jnp.int32)
        set_env_parameters(_OWNER, self.where, ctx.env, self._value(zero))  # checks
        return LevelCurriculumState(
            level=zero,
            iterations_at_level=zero,
            window_sum=jnp.zeros((self.window,), jnp.float32),
            window_count=jnp.zeros((self.window,), jnp.int32),
            metric=jnp.asarray(jnp.nan, jnp.float32),
            entered=jnp.full((self.num_levels,), -1, jnp.int32).at[0].set(0),
        )

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> LevelCurriculumState:
        s, episodes = ctx.state, ctx.episodes
        if self.metric == "episode_return":
            finished_sum = jnp.sum(episodes.return_sum)
        else:
            finished_sum = jnp.sum(episodes.length_sum).astype(jnp.float32)
        slot = s.iterations_at_level % self.window
        window_sum = s.window_sum.at[slot].set(finished_sum)
        window_count = s.window_count.at[slot].set(jnp.sum(episodes.count))
        iterations_at_level = s.iterations_at_level + 1
        count = jnp.sum(window_count)
        measured = (iterations_at_level >= self.window) & (count >= self.min_episodes)
        metric = jnp.where(measured, jnp.sum(window_sum) / jnp.maximum(count, 1), jnp.nan)
        threshold = self.threshold[jnp.minimum(s.level, self.num_levels - 2)]
        passed = metric >= threshold if self.mode == "max" else metric <= threshold
        advance = measured & passed & (s.level < self.num_levels - 1)
        level = s.level + advance.astype(jnp.int32)
        return LevelCurriculumState(
            level=level,
            iterations_at_level=jnp.where(advance, 0, iterations_at_level),
            window_sum=jnp.where(advance, 0.0, window_sum),
            window_count=jnp.where(advance, 0, window_count),
            metric=metric,
            entered=jnp.where(advance, s.entered.at[level].set(ctx.iteration_count), s.entered),
        )

    def update_env(self, env: AbstractEnv, state: LevelCurriculumState) -> AbstractEnv:
        return set_env_parameters(_OWNER, self.where, env, self._value(state.level))

    def log_values(self, state: LevelCurriculumState) -> dict[str, Array]:
        return {
            f"{self.name}/level": state.level,
            **value_log(self.name, self._value(state.level)),
        }

    def __repr__(self) -> str:
        return (
            f"LevelCurriculum({self.num_levels} levels, metric={self.metric!r}, "
            f"mode={self.mode!r}, window={self.window}, name={self.name!r})"
        )


def _stack_levels(levels: Any) -> tuple[PyTree[Array], int]:
    """The levels as a pytree of arrays with a leading level axis, and their number."""
    bad = TypeError(
        f"{_OWNER}: `levels` must be a sequence of values (numbers, arrays, or tuples of "
        f"them, one per selected parameter) or an array with a leading level axis, "
        f"got {levels!r}."
    )
    if isinstance(levels, (str, bytes)):
        raise bad
    if eqx.is_array(levels) or isinstance(levels, np.ndarray):
        stacked = jnp.asarray(levels)
        if stacked.ndim == 0:
            raise bad
        leaves = [stacked]
    elif isinstance(levels, Sequence):
        if len(levels) < 1:
            raise ValueError(f"{_OWNER}: `levels` needs at least two levels, got none.")
        structures = {jax.tree.structure(level) for level in levels}
        if len(structures) != 1:
            raise ValueError(f"{_OWNER}: every level must have the same structure, got {levels!r}.")
        try:
            stacked = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *levels)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"{_OWNER}: the levels must be numbers or arrays of one shape ({error})."
            ) from None
        leaves = jax.tree.leaves(stacked)
    else:
        raise bad
    for leaf in leaves:
        if not (
            jnp.issubdtype(leaf.dtype, jnp.floating) or jnp.issubdtype(leaf.dtype, jnp.integer)
        ):
            raise bad
    num_levels = int(leaves[0].shape[0])
    if num_levels < 2:
        raise ValueError(f"{_OWNER}: `levels` needs at least two levels, got {num_levels}.")
    return stacked, num_levels


def _thresholds(threshold: Any, num_levels: int) -> Float[Array, " n"]:
    """`threshold` as one float32 per level but the last."""
    bad = TypeError(
        f"{_OWNER}: `threshold` must be a number or {num_levels - 1} numbers (one per level "
        f"but the last), got {threshold!r}."
    )
    if isinstance(threshold, (bool, np.bool_, str, bytes)):
        raise bad
    try:
        array = jnp.asarray(threshold)
    except (TypeError, ValueError):
        raise bad from None
    if not is_real(array):
        raise bad
    if array.shape not in ((), (num_levels - 1,)):
        raise ValueError(
            f"{_OWNER}: `threshold` must be a number or {num_levels - 1} numbers (one per "
            f"level but the last), got shape {array.shape}."
        )
    if not isinstance(array, jax.core.Tracer) and bool(jnp.any(jnp.isnan(array))):
        raise ValueError(f"{_OWNER}: `threshold` must not be NaN.")
    return jnp.broadcast_to(array.astype(jnp.float32), (num_levels - 1,))
