"""`NaNGuard`: stop when a training metric or a policy parameter is not finite."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int, Key

from lerax import host
from lerax.space import AbstractSpace

from .._context import IterationContext, ResetContext
from .._host_only import member_prefix
from .._state import AbstractCallbackState
from ._common import AbstractStoppingCallback, StopReason, StopRecord

PARAMETERS = "parameters"
"""The name `NaNGuard` gives to "some policy parameter is not finite"."""

# Name lists seen while tracing, interned so that a state or a host row can refer to
# its list by a number (training-log keys are static strings, arrays cannot hold them).
_name_tables: list[tuple[str, ...]] = []


def _intern(names: tuple[str, ...]) -> int:
    if names not in _name_tables:
        _name_tables.append(names)
    return _name_tables.index(names)


class NaNGuardState(AbstractCallbackState):
    """Per-run state of `NaNGuard`.

    Attributes:
        stopped: Whether something non-finite was seen (training stopped after
            `stop_iteration`).
        stop_iteration: The iteration after which training stopped (-1 if it did not).
        reason: A `StopReason` code (`NON_FINITE` once stopped, else `NONE`).
        metric: Index, in the guard's list of names, of the first non-finite entry at
            the stop (-1 if none); read it with `NaNGuard.metric_name`.
        names_id: Which list of names `metric` indexes (-1 if none).
        ack: Host acknowledgements (keeps crossings in program order).
    """

    stopped: Bool[Array, ""]
    stop_iteration: Int[Array, ""]
    reason: Int[Array, ""]
    metric: Int[Array, ""]
    names_id: Int[Array, ""]
    ack: Int[Array, ""]


class NaNGuard(AbstractStoppingCallback[NaNGuardState]):
    """Stop training when any training metric or any policy parameter is NaN or infinite.

    Checked after every iteration's update: every entry of the algorithm's
    `training_log` (except those in `ignore`) and every floating-point array of the
    updated policy (its spaces, whose bounds may be infinite, excepted). The guard's
    list of names is the sorted `training_log` keys followed by `"parameters"`; the
    state records the index of the first non-finite one and the iteration
    (`NaNGuard.metric_name(state)` gives the name). When it triggers it prints one
    line on the host naming every non-finite entry.

    Note that some metrics are NaN by definition in degenerate cases (PPO's
    `explained_variance` when the returns have zero variance); list them in
    `ignore` if that may happen.

    Args:
        ignore: Training-log keys not to check.

    Raises:
        TypeError: if `ignore` is not a sequence of strings.
    """

    ignore: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, *, ignore: Sequence[str] = ()):
        if isinstance(ignore, str) or not isinstance(ignore, Sequence):
            raise TypeError(f"NaNGuard: `ignore` must be a sequence of str, got {ignore!r}.")
        for name in ignore:
            if not isinstance(name, str):
                raise TypeError(f"NaNGuard: `ignore` must be a sequence of str, got {ignore!r}.")
        self.ignore = tuple(ignore)

    _channel = "lerax.NaNGuard"

    def names_for(self, training_log: dict[str, Any]) -> tuple[str, ...]:
        """The guard's list of names for an algorithm's `training_log`."""
        return tuple(sorted(k for k in training_log if k not in self.ignore)) + (PARAMETERS,)

    @staticmethod
    def metric_name(state: NaNGuardState) -> Any:
        """The name of the first non-finite entry recorded in `state` (None if none).

        For a vmapped state, a numpy object array of names (or None) per member.
        """
        metric, names = np.asarray(state.metric), np.asarray(state.names_id)
        out = np.empty(metric.shape, dtype=object)
        for i in np.ndindex(metric.shape):
            out[i] = None if metric[i] < 0 else _name_tables[int(names[i])][int(metric[i])]
        return out.item() if out.ndim == 0 else out

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> NaNGuardState:
        zero = jnp.zeros((), jnp.int32)
        return NaNGuardState(
            stopped=jnp.asarray(False),
            stop_iteration=zero - 1,
            reason=zero + jnp.int32(StopReason.NONE),
            metric=zero - 1,
            names_id=zero - 1,
            ack=zero,
        )

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> NaNGuardState:
        s = ctx.state
        names = self.names_for(ctx.training_log)
        params_finite = jnp.asarray(True)
        for leaf in jax.tree.leaves(ctx.policy, is_leaf=lambda x: isinstance(x, AbstractSpace)):
            if eqx.is_inexact_array(leaf):  # spaces (infinite bounds) are not parameters
                params_finite = params_finite & jnp.all(jnp.isfinite(leaf))
        bad = jnp.stack(
            [~jnp.all(jnp.isfinite(jnp.asarray(ctx.training_log[k]))) for k in names[:-1]]
            + [~params_finite]
        )
        record = StopRecord.of(s).update(jnp.any(bad), ctx.iteration_count, StopReason.NON_FINITE)
        new = record.new
        table = jnp.int32(_intern(names))
        payload = {
            "iteration": ctx.iteration_count,
            "timesteps": ctx.num_timesteps,
            "names": table,
            "bad": bad,
        }
        ack = host.send(self._channel, payload, due=new)
        return NaNGuardState(
            stopped=record.stopped,
            stop_iteration=record.stop_iteration,
            reason=record.reason,
            metric=jnp.where(new, jnp.argmax(bad).astype(jnp.int32), s.metric),
            names_id=jnp.where(new, table, s.names_id),
            ack=s.ack + ack,
        )

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Any]:
        return {self._channel: _print_non_finite}

    def __repr__(self) -> str:
        return f"NaNGuard(ignore={list(self.ignore)!r})"


def _print_non_finite(rows: dict[str, np.ndarray], index: np.ndarray) -> None:
    for r in range(index.shape[0]):
        names = _name_tables[int(rows["names"][r])]
        bad = [n for n, b in zip(names, rows["bad"][r], strict=True) if b]
        print(
            f"{member_prefix(index, r)}NaNGuard: non-finite {', '.join(bad)} after iteration "
            f"{int(rows['iteration'][r])} ({int(rows['timesteps'][r])} steps); training stops.",
            file=sys.stdout,
            flush=True,
        )
