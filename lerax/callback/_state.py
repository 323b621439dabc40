"""Callback state base classes."""

from __future__ import annotations

import equinox as eqx


class AbstractCallbackState(eqx.Module):
    """Per-run callback state (no env axis): returned by `reset` and the run hooks."""


class AbstractCallbackStepState(eqx.Module):
    """Per-env callback state: returned by `step_reset` and `on_step`.

    The training loop vectorises these over environments, so inside a `TrainState`
    every leaf carries a leading `num_envs` axis (also when `num_envs == 1`).
    """


class EmptyCallbackState(AbstractCallbackState):
    """The state of a callback that keeps no per-run state."""


class EmptyCallbackStepState(AbstractCallbackStepState):
    """The state of a callback that keeps no per-env state."""
