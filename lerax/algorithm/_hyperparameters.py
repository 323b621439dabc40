"""The configuration an algorithm reports: to loggers (as Python values) and to
callbacks inside the program (as arrays, one value per vmapped member)."""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from lerax.env import AbstractEnv


def hyperparameters(algorithm: eqx.Module) -> dict[str, Any]:
    """`algorithm`'s configuration as Python values (traced arrays left out)."""
    out: dict[str, Any] = {}
    for name, value in _config_items(algorithm):
        if isinstance(value, jax.core.Tracer):
            continue
        if isinstance(value, jax.Array) and value.ndim == 0:
            is_float32 = value.dtype == jnp.float32
            value = value.item()
            if is_float32:  # 2.5e-4 rather than 0.0002500000118743628
                value = float(f"{value:.7g}")
        if isinstance(value, (int, float, bool, str)):
            out[name] = value
    return out


def hyperparameter_arrays(algorithm: eqx.Module, env: AbstractEnv) -> dict[str, Array]:
    """Numeric hyper-parameters of `algorithm` and `env` as scalar arrays."""
    out: dict[str, Array] = {}
    items = [*_config_items(algorithm)]
    items += [("env/" + f.name, getattr(env, f.name)) for f in dataclasses.fields(env)]
    for name, value in items:
        if isinstance(value, (bool, int, float)) or (
            isinstance(value, jax.Array) and value.ndim == 0
        ):
            out[name] = jnp.asarray(value)
    return out


def _config_items(algorithm: eqx.Module) -> list[tuple[str, Any]]:
    """`(name, value)` of the algorithm's fields, one level into injected components
    (`target_update` -> `target_update` = class name, `target_update/tau`, ...)."""
    items: list[tuple[str, Any]] = []
    for field in dataclasses.fields(algorithm):
        value = getattr(algorithm, field.name)
        if isinstance(value, eqx.Module) and dataclasses.is_dataclass(value):
            items.append((field.name, type(value).__name__))
            for inner in dataclasses.fields(value):
                items.append((f"{field.name}/{inner.name}", getattr(value, inner.name)))
        else:
            items.append((field.name, value))
    return items
