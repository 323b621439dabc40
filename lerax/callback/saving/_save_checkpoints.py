"""`SaveCheckpoints`: the full training state to disk, from inside the compiled program."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, Key

from lerax import host
from lerax._checks import check_bool, check_int
from lerax._paths import check_relative_name
from lerax.checkpoint import AbstractReplayBuffer, BufferNotSaved
from lerax.checkpoint._save import split_state

from .._context import IterationContext, ResetContext, TrainingContext
from .._host_only import HostOnly
from .._partial import AbstractNeverStopping, AbstractWithoutStepState
from .._state import AbstractCallbackState, EmptyCallbackStepState
from ._checkpoint_writer import CheckpointSession, claim_directory, register_structure


class SaveCheckpointsState(AbstractCallbackState):
    """Host acknowledgements (keeps the crossings in program order).

    Attributes:
        ack: Sum of the acknowledgements of this callback's crossings.
    """

    ack: Int[Array, ""]


class SaveCheckpoints(
    AbstractWithoutStepState[SaveCheckpointsState],
    AbstractNeverStopping[SaveCheckpointsState, EmptyCallbackStepState],
):
    """Save the full `TrainState` every `frequency` iterations and at training end.

    Layout (`<EnvName>` is the env's name without its version, `CartPole-v1` ->
    `CartPole`; `<n>` is the number of iterations completed, the unit of `frequency`,
    as velora names saves by its episode count)::

        <root>/<dirname>/saves/
            model_config.json      algorithm, env, hyper-parameters, policy, callbacks
            <EnvName>_<n>/         every `frequency` iterations (not at the planned
                                   last one: the final save covers it)
            <EnvName>_final/       at training end (budget spent or stopped)
            completed.json         episodes, timesteps, iterations, wall time, stop reason

    Under `jax.vmap(learn)` each member gets its own tree under
    `<root>/<dirname>/seed_<i>/saves/` (nested vmaps: `<i>_<j>`). Every checkpoint
    directory loads with `lerax.checkpoint.load` and continues with `algo.train`.

    A periodic save holds the state right after that iteration's update, with the
    callbacks' states from before their `on_iteration`; the final save holds the
    state after the last iteration. The training part (policy, optimizer, envs,
    counters, training key) is exact: resuming gives bitwise the run never stopped.
    With `buffer=False` every replay buffer (`lerax.checkpoint.AbstractReplayBuffer`)
    is replaced by `lerax.checkpoint.BufferNotSaved`; `load(path, like=template)`
    takes it from the template. The rest of the algorithm state (target networks,
    entropy temperature, update counters) is always saved.

    Parameters cross to the host only when a save is due; a background thread
    writes, so the program is not held up by the disk, and training end waits until
    every write finished. Writes are atomic. A state whose policy parameters are
    not finite is not saved (reported once per member), so the last finite
    checkpoint stays intact. A write failure is reported once on stderr, later
    saves are skipped, and training goes on.

    Constructing the callback has no side effect. When training starts, an existing
    `<root>/<dirname>` raises `FileExistsError`, unless this same callback object
    created it in this process (so `algo.train(state, k, callback=cb)` in chunks
    keeps adding to one directory). `dirname`, `keep` and `root` are host-only:
    changing them does not recompile the training program (a sweep that saves each
    run under its own `dirname` compiles once).

    Args:
        dirname: Directory name under `root`: a relative path such as `"cartpole"` or
            `"ppo/cartpole"`; absolute paths and empty, `.` or `..` components raise
            `ValueError` (nothing is written outside `root`).
        frequency: Iterations between saves (>= 1).
        buffer: Whether to save the algorithm's replay buffer.
        keep: Keep only the newest `keep` periodic saves (None: keep all).
        root: Parent directory of every run's checkpoints (relative paths resolve
            against the working directory when training starts).
    """

    frequency: int = eqx.field(static=True)
    buffer: bool = eqx.field(static=True)
    _host: HostOnly[_CheckpointHostConfig] = eqx.field(static=True)

    def __init__(
        self,
        dirname: str,
        *,
        frequency: int = 100,
        buffer: bool = False,
        keep: int | None = None,
        root: str | os.PathLike = "checkpoints",
    ):
        if not isinstance(dirname, str) or not dirname:
            raise TypeError(f"SaveCheckpoints: `dirname` must be a non-empty str, got {dirname!r}.")
        check_relative_name("SaveCheckpoints", "dirname", dirname)
        check_int("SaveCheckpoints", "frequency", frequency)
        check_bool("SaveCheckpoints", "buffer", buffer)
        if keep is not None:
            check_int("SaveCheckpoints", "keep", keep)
        if not isinstance(root, str | os.PathLike) or not os.fspath(root):
            raise TypeError(f"SaveCheckpoints: `root` must be a non-empty path, got {root!r}.")
        self.frequency = frequency
        self.buffer = buffer
        self._host = HostOnly(_CheckpointHostConfig(dirname, keep, os.fspath(root)))

    @property
    def dirname(self) -> str:
        """Directory name under `root`."""
        return self._host.value.dirname

    @property
    def keep(self) -> int | None:
        """How many periodic saves are kept (None: all)."""
        return self._host.value.keep

    @property
    def root(self) -> str:
        """Parent directory of `dirname`."""
        return self._host.value.root

    def config(self) -> dict[str, Any]:
        return {
            "type": "SaveCheckpoints",
            "dirname": self.dirname,
            "frequency": self.frequency,
            "buffer": self.buffer,
            "keep": self.keep,
            "root": self.root,
        }

    def _channel(self, event: str) -> str:
        return f"checkpoints/{event}"

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Any]:
        """Claim `<root>/<dirname>` and open this call's host-side session.

        Raises:
            FileExistsError: if the directory exists and this callback object did not
                create it earlier in this process.
        """
        base = claim_directory(self, Path(self.root, self.dirname))
        session = CheckpointSession(base, run, keep=self.keep)
        return {
            self._channel("start"): session.on_start,
            self._channel("save"): session.on_save,
            self._channel("end"): session.on_end,
        }

    # ----------------------------------------------------------- hooks

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> SaveCheckpointsState:
        return SaveCheckpointsState(ack=jnp.zeros((), jnp.int32))

    def on_training_start(
        self, ctx: TrainingContext, *, key: Key[Array, ""]
    ) -> SaveCheckpointsState:
        skeleton, _ = split_state(_train_state(ctx))
        payload = {
            "structure": jnp.asarray(register_structure(skeleton), jnp.int32),
            "hparams": ctx.hyperparameters,
            "iteration": ctx.iteration_count,
        }
        return _acknowledge(ctx.state, host.send(self._channel("start"), payload))

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> SaveCheckpointsState:
        train_state = _train_state(ctx)
        due = (ctx.iteration_count % self.frequency == 0) & (
            ctx.iteration_count < train_state.total_iterations
        )
        payload = self._state_payload(train_state)
        ack = host.send(self._channel("save"), payload, due=due)
        return _acknowledge(ctx.state, ack)

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> SaveCheckpointsState:
        train_state = _train_state(ctx)
        payload = self._state_payload(train_state)
        payload["stopped"] = ctx.stopped
        payload["total_iterations"] = train_state.total_iterations
        return _acknowledge(ctx.state, host.send(self._channel("end"), payload))

    def _state_payload(self, train_state: Any) -> dict[str, Any]:
        if not self.buffer:
            is_buffer = lambda x: isinstance(x, AbstractReplayBuffer)  # noqa: E731
            train_state = jax.tree.map(
                lambda x: BufferNotSaved(type(x).__name__) if is_buffer(x) else x,
                train_state,
                is_leaf=is_buffer,
            )
        skeleton, leaves = split_state(train_state)
        return {
            "structure": jnp.asarray(register_structure(skeleton), jnp.int32),
            "leaves": leaves,
            "iteration": train_state.iteration,
            "timesteps": train_state.num_timesteps,
            "episodes": train_state.num_episodes,
        }


@dataclasses.dataclass(frozen=True)
class _CheckpointHostConfig:
    """What only the host side of `SaveCheckpoints` reads (see `HostOnly`)."""

    dirname: str
    keep: int | None
    root: str


def _train_state(ctx: IterationContext | TrainingContext) -> Any:
    if ctx.train_state is None:
        raise ValueError(
            "SaveCheckpoints: the context carries no `train_state`; it needs a driver "
            "built on lerax.algorithm.AbstractAlgorithm."
        )
    return ctx.train_state


def _acknowledge(state: SaveCheckpointsState, ack: Int[Array, ""]) -> SaveCheckpointsState:
    return SaveCheckpointsState(ack=state.ack + ack)
