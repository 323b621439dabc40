"""Schedules: a value as a function of training progress in `[0, 1]` (for curricula)."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float


class AbstractSchedule(eqx.Module):
    """A value that depends on training progress.

    Progress is `num_timesteps / total_timesteps`, clipped to `[0, 1]`: 0 before the
    first iteration, 1 when the planned budget is spent. Schedules are Modules whose
    numbers are arrays, so they may be traced (vmapped over) without recompiling.
    """

    @abc.abstractmethod
    def __call__(self, progress: Float[ArrayLike, ""]) -> Float[Array, "..."]:
        """The value at `progress`.

        Args:
            progress: Training progress, a scalar in `[0, 1]`.

        Returns:
            A float32 array (a scalar unless the schedule's values are arrays).
        """


def _as_value(owner: str, name: str, value: object) -> Float[Array, "..."]:
    """A schedule value as a float32 array (scalar or array), NaN refused when concrete."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{owner}: `{name}` must be a real number or array, got {value!r}.")
    try:
        array = jnp.asarray(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{owner}: `{name}` must be a real number or array, got {value!r}."
        ) from None
    if not (jnp.issubdtype(array.dtype, jnp.floating) or jnp.issubdtype(array.dtype, jnp.integer)):
        raise TypeError(f"{owner}: `{name}` must be a real number or array, got {value!r}.")
    if not isinstance(array, jax.core.Tracer) and bool(jnp.any(jnp.isnan(array))):
        raise ValueError(f"{owner}: `{name}` must not be NaN.")
    return array.astype(jnp.float32)


def is_real(array: Array) -> bool:
    """Whether `array` has a floating or integer dtype."""
    return bool(
        jnp.issubdtype(array.dtype, jnp.floating) or jnp.issubdtype(array.dtype, jnp.integer)
    )


def _progress(progress: Float[ArrayLike, ""]) -> Float[Array, ""]:
    return jnp.clip(jnp.asarray(progress, jnp.float32), 0.0, 1.0)


class LinearSchedule(AbstractSchedule):
    """`start + (end - start) * progress`.

    Args:
        start: Value at progress 0 (a number or an array, may be traced).
        end: Value at progress 1 (broadcastable with `start`).

    Raises:
        TypeError: if a value is not a real number or array.
        ValueError: if a value is NaN or the two do not broadcast.
    """

    start: Float[Array, "..."]
    end: Float[Array, "..."]

    def __init__(self, start: Float[ArrayLike, "..."], end: Float[ArrayLike, "..."]):
        self.start = _as_value("LinearSchedule", "start", start)
        self.end = _as_value("LinearSchedule", "end", end)
        _check_broadcast("LinearSchedule", self.start, self.end)

    def __call__(self, progress: Float[ArrayLike, ""]) -> Float[Array, "..."]:
        return self.start + (self.end - self.start) * _progress(progress)


class CosineSchedule(AbstractSchedule):
    """Half a cosine from `start` to `end`: `start + (end - start) * (1 - cos(pi p)) / 2`.

    Moves slowly near both ends and fastest half way.

    Args:
        start: Value at progress 0 (a number or an array, may be traced).
        end: Value at progress 1 (broadcastable with `start`).

    Raises:
        TypeError: if a value is not a real number or array.
        ValueError: if a value is NaN or the two do not broadcast.
    """

    start: Float[Array, "..."]
    end: Float[Array, "..."]

    def __init__(self, start: Float[ArrayLike, "..."], end: Float[ArrayLike, "..."]):
        self.start = _as_value("CosineSchedule", "start", start)
        self.end = _as_value("CosineSchedule", "end", end)
        _check_broadcast("CosineSchedule", self.start, self.end)

    def __call__(self, progress: Float[ArrayLike, ""]) -> Float[Array, "..."]:
        weight = 0.5 * (1.0 - jnp.cos(jnp.pi * _progress(progress)))
        return self.start + (self.end - self.start) * weight


class StepSchedule(AbstractSchedule):
    """Piecewise constant: `values[i]` where `i` is the number of `boundaries` that
    `progress` has reached (`progress >= boundary`).

    `StepSchedule([0.25, 0.5], [9.8, 12.0, 15.0])` is 9.8 on `[0, 0.25)`, 12.0 on
    `[0.25, 0.5)` and 15.0 from 0.5 on.

    Args:
        boundaries: Increasing progress values in `[0, 1]` (a sequence or 1-D array).
        values: `len(boundaries) + 1` values (numbers, or arrays of one shape).

    Raises:
        TypeError: if `boundaries` or `values` are not sequences of numbers.
        ValueError: if the lengths do not match, or concrete boundaries are not
            increasing or not within `[0, 1]`.
    """

    boundaries: Float[Array, " num_boundaries"]
    values: Float[Array, "num_values ..."]

    def __init__(
        self,
        boundaries: Sequence[float] | Float[ArrayLike, " num_boundaries"],
        values: Sequence[Float[ArrayLike, "..."]] | Float[ArrayLike, "num_values ..."],
    ):
        if isinstance(boundaries, (str, bytes)) or isinstance(values, (str, bytes)):
            raise TypeError("StepSchedule: `boundaries` and `values` must be sequences of numbers.")
        try:
            bounds = jnp.asarray(boundaries, jnp.float32)
            stacked = jnp.stack([_as_value("StepSchedule", "values", v) for v in values])
        except TypeError as error:
            raise TypeError(
                f"StepSchedule: `boundaries` and `values` must be sequences of numbers ({error})."
            ) from None
        if bounds.ndim != 1:
            raise ValueError(
                f"StepSchedule: `boundaries` must be one-dimensional, got shape {bounds.shape}."
            )
        if stacked.shape[0] != bounds.shape[0] + 1:
            raise ValueError(
                "StepSchedule: `values` must have len(boundaries) + 1 entries, got "
                f"{stacked.shape[0]} values for {bounds.shape[0]} boundaries."
            )
        if not isinstance(bounds, jax.core.Tracer):
            b = np.asarray(bounds)
            if np.any(np.isnan(b)) or np.any(b < 0) or np.any(b > 1) or np.any(np.diff(b) <= 0):
                raise ValueError(
                    "StepSchedule: `boundaries` must be strictly increasing values in [0, 1], "
                    f"got {b.tolist()}."
                )
        self.boundaries = bounds
        self.values = stacked

    def __call__(self, progress: Float[ArrayLike, ""]) -> Float[Array, "..."]:
        index = jnp.sum(_progress(progress) >= self.boundaries)
        return self.values[index]


def _check_broadcast(owner: str, start: Array, end: Array) -> None:
    try:
        np.broadcast_shapes(start.shape, end.shape)
    except ValueError:
        raise ValueError(
            f"{owner}: `start` (shape {start.shape}) and `end` (shape {end.shape}) must "
            "broadcast together."
        ) from None
