"""Sharding the env axis of a run across devices (`env_sharding=` of learn/init/train).

JAX's own SPMD partitioner does the work: the driver pins the leading `num_envs`
axis of the per-env parts of the `TrainState` (env states, observations, the
callbacks' per-env states) with `jax.lax.with_sharding_constraint`, at start-up and
around every iteration, and XLA partitions the rest of the program (the policy and
the optimizer stay replicated; the update gathers what it needs). Host crossings are
unchanged: `lerax.host.send` runs on one device, once per event.

Under the user's `jax.vmap(learn, spmd_axis_name="seeds")` the constraint also
shards the member axis over the mesh axis `"seeds"`.
"""

from __future__ import annotations

import dataclasses

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from ._train_state import TrainState


def check_env_sharding(env_sharding, num_envs: int) -> NamedSharding | None:
    """Validate `env_sharding` (None, or a NamedSharding whose spec names the env axis).

    Raises:
        TypeError: `env_sharding` is not None or a `jax.sharding.NamedSharding`.
        ValueError: its spec does not have exactly one entry, or `num_envs` is not a
            multiple of the number of devices along that entry.
    """
    if env_sharding is None:
        return None
    if not isinstance(env_sharding, NamedSharding):
        raise TypeError(
            "`env_sharding` must be None or a jax.sharding.NamedSharding such as "
            f"NamedSharding(mesh, PartitionSpec('envs')), got {env_sharding!r}."
        )
    spec = env_sharding.spec
    if len(spec) != 1 or spec[0] is None:
        raise ValueError(
            "`env_sharding` must name the mesh axis (or axes) of the env axis and nothing "
            f"else, e.g. PartitionSpec('envs'); got {spec}."
        )
    axes = spec[0] if isinstance(spec[0], tuple) else (spec[0],)
    devices = 1
    for axis in axes:
        devices *= env_sharding.mesh.shape[axis]
    if num_envs % devices:
        raise ValueError(
            f"`env_sharding` splits the env axis over {devices} devices, which must divide "
            f"num_envs ({num_envs})."
        )
    return env_sharding


def constrain_envs(state: TrainState, env_sharding: NamedSharding | None) -> TrainState:
    """Pin the leading env axis of `env_state`, `observation` and
    `callback_step_state` to `env_sharding` (identity when None)."""
    if env_sharding is None:
        return state
    sharding = NamedSharding(auto_mesh(env_sharding.mesh), PartitionSpec(env_sharding.spec[0]))

    def pin(tree):
        return jax.tree.map(
            lambda x: (
                jax.lax.with_sharding_constraint(x, sharding)
                if isinstance(x, jax.Array) and x.ndim >= 1
                else x
            ),
            tree,
        )

    return dataclasses.replace(
        state,
        env_state=pin(state.env_state),
        observation=pin(state.observation),
        callback_step_state=pin(state.callback_step_state),
    )


def auto_mesh(mesh: Mesh) -> Mesh:
    """`mesh` with every axis in `AxisType.Auto` (left to XLA's partitioner), as
    `with_sharding_constraint` needs; `jax.make_mesh` makes Explicit axes by default."""
    if all(t == AxisType.Auto for t in mesh.axis_types):
        return mesh
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))
