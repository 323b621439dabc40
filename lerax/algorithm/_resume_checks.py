"""`check_resume`: does a `TrainState` fit the algorithm and callbacks that continue it?

`train(state)` runs it before compiling, so a state saved by another configuration
(other `num_envs`, `num_steps`, `buffer_size`, other callbacks) is refused with the
field and both values named, instead of failing deep inside JAX or silently
changing the run (a different `num_steps` would change the planned budget).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import numpy as np

from lerax.callback import AbstractCallback
from lerax.checkpoint import AbstractReplayBuffer, BufferNotSaved
from lerax.checkpoint._compare import first_difference

from ._loop import fresh_callback_states
from ._train_state import TrainState


def check_resume(algorithm: Any, state: Any, callback: AbstractCallback) -> None:
    """Check, without compiling, that `state` can be continued by `algorithm` with
    `callback`.

    Checks `num_envs` (the observations' env axis), the env steps per iteration
    (`num_steps` or `train_freq`: `num_timesteps` must be `iteration` times the
    algorithm's steps per iteration), replay buffers (present, and of
    `buffer_size`), and the callbacks' states (number and kind: what `callback`
    would make). Values that are traced (inside the user's `jit`) are skipped.

    Args:
        algorithm: The `AbstractAlgorithm` that will train.
        state: The state to continue.
        callback: The callback (a `CallbackList` for several) it will train with.

    Raises:
        TypeError: if `state` is not a `TrainState`.
        ValueError: naming the field that does not fit and both values.
    """
    owner = f"{type(algorithm).__name__}.train"
    if not isinstance(state, TrainState):
        raise TypeError(
            f"{owner}: `state` must be the TrainState of `init` (or a loaded "
            f"checkpoint), got {type(state).__name__}."
        )
    _check_num_envs(owner, algorithm, state)
    _check_steps_per_iteration(owner, algorithm, state)
    _check_buffers(owner, algorithm, state)
    _check_callback_states(owner, algorithm, state, callback)


def _check_num_envs(owner: str, algorithm: Any, state: TrainState) -> None:
    event_ndim = len(state.env.observation_space.shape)
    shape = np.shape(state.observation)
    if len(shape) <= event_ndim:
        return
    num_envs = shape[len(shape) - event_ndim - 1]
    if num_envs != algorithm.num_envs:
        raise ValueError(
            f"{owner}: num_envs: the state was made with {num_envs} envs, the algorithm "
            f"has num_envs={algorithm.num_envs}; resume it with "
            f"{type(algorithm).__name__}(num_envs={num_envs}, ...)."
        )


def _check_steps_per_iteration(owner: str, algorithm: Any, state: TrainState) -> None:
    if _traced(state.iteration, state.num_timesteps):
        return
    iteration = np.asarray(state.iteration).astype(np.int64)
    timesteps = np.asarray(state.num_timesteps).astype(np.int64)
    per_iteration = algorithm.steps_per_iteration
    wrong = (iteration > 0) & (timesteps != iteration * per_iteration)
    if not np.any(wrong):
        return
    first = np.argwhere(np.atleast_1d(wrong))[0][0]
    it, ts = int(np.ravel(iteration)[first]), int(np.ravel(timesteps)[first])
    field = next((n for n in ("num_steps", "train_freq") if hasattr(algorithm, n)), None)
    if field is None:
        name, saved, now = "steps per iteration", ts / it, per_iteration
    else:
        name, saved, now = field, ts / (it * algorithm.num_envs), getattr(algorithm, field)
    raise ValueError(
        f"{owner}: {name}: the state took {ts} env steps in {it} iteration"
        f"{'s' if it != 1 else ''} ({saved:g} per "
        f"iteration and env), the algorithm has {name}={now}; resuming with another value "
        "would change the run and its planned budget. Resume it with "
        f"{type(algorithm).__name__}({name}={saved:g}, ...)."
    )


def _check_buffers(owner: str, algorithm: Any, state: TrainState) -> None:
    is_buffer = lambda x: isinstance(x, (AbstractReplayBuffer, BufferNotSaved))  # noqa: E731
    for buffer in jax.tree.leaves(state.algorithm_state, is_leaf=is_buffer):
        if isinstance(buffer, BufferNotSaved):
            raise ValueError(
                f"{owner}: algorithm_state: the state's {buffer.type_name} was not saved "
                "(SaveCheckpoints(buffer=False)); load the checkpoint with "
                "`lerax.checkpoint.load(path, like=algo.init(...))` to put a fresh buffer "
                "in its place."
            )
        capacity = getattr(buffer, "capacity", None)
        expected = getattr(algorithm, "buffer_size", None)
        if isinstance(buffer, AbstractReplayBuffer) and None not in (capacity, expected):
            if capacity != expected:
                raise ValueError(
                    f"{owner}: buffer_size: the state's replay buffer holds {capacity} "
                    f"transitions, the algorithm has buffer_size={expected}; resume it "
                    f"with {type(algorithm).__name__}(buffer_size={capacity}, ...)."
                )


def _check_callback_states(
    owner: str, algorithm: Any, state: TrainState, callback: AbstractCallback
) -> None:
    if state.callback_state is None or state.callback_step_state is None:
        raise ValueError(
            f"{owner}: the state has no callback states (it was loaded with "
            "`callback_states=False`): give it fresh ones for the callbacks it will train "
            "with, `state = algo.with_callbacks(state, callbacks)`, then train it."
        )
    total = state.total_iterations * algorithm.steps_per_iteration
    total = 1 if _traced(total) else int(np.max(total))
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype) if eqx.is_array(x) else x, state
    )
    fresh = eqx.filter_eval_shape(
        lambda s: fresh_callback_states(algorithm, s, total, callback), abstract
    )
    for name in ("callback_state", "callback_step_state"):
        found = first_difference(getattr(abstract, name), getattr(fresh, name), f".{name}")
        if found is None:
            continue
        where, have, want = found
        raise ValueError(
            f"{owner}: the state's callback states do not fit the callbacks given: at "
            f"`{where}` the state has {have}, the callbacks make {want}. Pass the callbacks "
            "the run was started (and saved) with, or give the state fresh states for "
            "these ones with `algo.with_callbacks(state, callbacks)`."
        )


def _traced(*values: Any) -> bool:
    return any(isinstance(v, jax.core.Tracer) for v in values)
