"""Train a population: many seeds, and seeds x hyper-parameter values, in one program.

`train_population` is `jax.vmap(learn)` over seeds, nested inside a `jax.vmap` over a
grid of hyper-parameter values when `sweep` is given, with the callbacks attached:
every member logs to its own run (with its own hyper-parameters), stops on its own
and saves to its own checkpoint directory; `LoggingCallback` adds the across-seeds
aggregate runs (mean, min, max, interquartile mean). Optionally the seeds, or the
envs of every run, are sharded across devices with `jax.sharding`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, Bool, Int, Key

from lerax._checks import check_int
from lerax.algorithm import AbstractAlgorithm, TrainState
from lerax.algorithm._driver import open_scope, run_in_scope
from lerax.algorithm._programs import check_timesteps as _check_timesteps
from lerax.algorithm._programs import compiled_learn as _learn
from lerax.algorithm._sharding import auto_mesh, check_env_sharding
from lerax.callback import as_callback
from lerax.env import AbstractEnv
from lerax.policy import AbstractPolicy

SHARD_CHOICES = ("seeds", "envs")


class Population(eqx.Module):
    """The trained members of a population.

    Every array leaf of `state` has the leading member axes named by `axes`:
    `("seed",)` for seeds only, `("config", "seed")` with a sweep, where config `c`
    is the grid point `{name: values[c] for name, values in sweep.items()}`.

    Attributes:
        state: The members' final `TrainState`s, batched along `axes`.
        sweep: Each swept name's value per config, arrays of shape `(num_configs,)`
            (empty without a sweep).
        axes: Names of the leading member axes.
    """

    state: TrainState
    sweep: dict[str, Array]
    axes: tuple[str, ...] = eqx.field(static=True)

    @property
    def policy(self) -> AbstractPolicy:
        """Every member's trained policy, batched along `axes`."""
        return self.state.policy

    @property
    def stopped(self) -> Bool[Array, "..."]:
        """Whether a callback stopped each member early."""
        return self.state.stopped

    @property
    def iteration(self) -> Int[Array, "..."]:
        """Iterations each member completed."""
        return self.state.iteration

    @property
    def shape(self) -> tuple[int, ...]:
        """Sizes of the member axes, e.g. `(num_configs, num_seeds)`."""
        return tuple(self.state.iteration.shape)

    def member(self, *index: int) -> TrainState:
        """One member's `TrainState`, without member axes (save it, train it on).

        Raises:
            IndexError: `index` does not give one position per member axis.
        """
        if len(index) != len(self.axes):
            raise IndexError(
                f"Population.member needs one index per axis {self.axes}, got {index}."
            )
        return jax.tree.map(lambda x: x[index], self.state)


def train_population(
    algorithm: AbstractAlgorithm,
    env: AbstractEnv,
    policy: AbstractPolicy | Callable[[Key[Array, ""]], AbstractPolicy],
    total_timesteps: int,
    *,
    key: Key[Array, ""],
    num_seeds: int = 1,
    sweep: Mapping[str, Sequence[float]] | None = None,
    callback: Any = None,
    shard: str | None = None,
    mesh: Mesh | None = None,
    seed_axis: str | None = None,
    env_axis: str | None = None,
) -> Population:
    """Train `num_seeds` seeds, for every point of the `sweep` grid, as one program.

    Member `s` trains with key `jr.split(key, num_seeds)[s]`, the same for every
    config, so without a sweep the result is `jax.vmap(lambda k: algorithm.learn(env,
    policy, total_timesteps, key=k, callback=callback))(jr.split(key, num_seeds))`.

    Args:
        algorithm: The algorithm, with the settings every member shares.
        env: The environment.
        policy: The initial policy, shared by every member; or a function of a key
            returning one, called per seed (then seed `s` splits its key into the
            policy's key and the training key).
        total_timesteps: Env steps per member.
        key: PRNG key of the population.
        num_seeds: Seeds per config (>= 1).
        sweep: `{name: values}`; the grid of every combination (in the order given,
            the last name varying fastest) is vmapped as the outer `config` axis. A
            name is a traced field of the algorithm (PPO: `learning_rate`, `gamma`,
            `gae_lambda`, `clip_coef`, `ent_coef`, `vf_coef`, `max_grad_norm`) or
            `env/<field>` for a traced env parameter (`env/gravity`).
        callback: None, a callback or a list of callbacks, attached to every member.
            With a sweep, every `LoggingCallback` with `group_axes=0` (nested ones
            too) aggregates as with `group_axes=1`: per config, across seeds.
        shard: `"seeds"` to split the seed axis, or `"envs"` to split the env axis of
            every run, over all devices (`jax.devices()`); None for one device.
        mesh: Your own `jax.sharding.Mesh` instead of `shard`; name its axes with
            `seed_axis` and/or `env_axis` (both: a 2-D mesh of seeds x envs).
        seed_axis: Mesh axis the seed axis is split over.
        env_axis: Mesh axis the env axis of every run is split over.

    Returns:
        A `Population` whose `state` has member axes `("seed",)`, or
        `("config", "seed")` with a sweep.

    Raises:
        TypeError: on an argument of the wrong type.
        ValueError: on an unknown or static sweep name, an invalid sweep value, a
            seed count or env count the devices do not divide, or an inconsistent
            `shard` / `mesh` / axis choice.
    """
    if not isinstance(algorithm, AbstractAlgorithm):
        raise TypeError(
            f"train_population: `algorithm` must be an AbstractAlgorithm, got {algorithm!r}."
        )
    if not isinstance(env, AbstractEnv):
        raise TypeError(f"train_population: `env` must be an AbstractEnv, got {env!r}.")
    if not isinstance(policy, AbstractPolicy) and not callable(policy):
        raise TypeError(
            "train_population: `policy` must be an AbstractPolicy or a function key -> policy, "
            f"got {policy!r}."
        )
    total_timesteps = _check_timesteps(total_timesteps)
    check_int("train_population", "num_seeds", num_seeds)
    grid = _grid(algorithm, env, sweep)
    mesh, seed_axis, env_axis = _layout(shard, mesh, seed_axis, env_axis)
    env_sharding = None
    if env_axis is not None:
        env_sharding = NamedSharding(mesh, PartitionSpec(env_axis))
        env_sharding = check_env_sharding(env_sharding, algorithm.num_envs)
    callback = as_callback(callback)

    seed_keys = jr.split(key, num_seeds)
    if seed_axis is not None:
        devices = mesh.shape[seed_axis]
        if num_seeds % devices:
            raise ValueError(
                f"train_population: the {devices} devices of mesh axis {seed_axis!r} must "
                f"divide `num_seeds` ({num_seeds})."
            )
        seed_keys = _shard_keys(seed_keys, NamedSharding(mesh, PartitionSpec(seed_axis)))

    def one_member(
        values: dict[str, Array], seed_key: Key[Array, ""], token, crossings
    ) -> TrainState:
        member_algorithm, member_env = _configure(algorithm, env, values)
        if isinstance(policy, AbstractPolicy):
            member_policy, train_key = policy, seed_key
        else:
            policy_key, train_key = jr.split(seed_key)
            member_policy = policy(policy_key)
        return _learn(
            member_algorithm,
            member_env,
            member_policy,
            total_timesteps,
            train_key,
            callback,
            env_sharding,
            token,
            crossings,
        )

    def population(values, seed_keys, token, crossings):
        over_seeds = jax.vmap(
            lambda v, k: one_member(v, k, token, crossings),
            in_axes=(None, 0),
            spmd_axis_name=seed_axis,
        )
        if grid:
            return jax.vmap(over_seeds, in_axes=(0, None))(values, seed_keys)
        return over_seeds(values, seed_keys)

    values = {name: jnp.asarray(v, jnp.float32) for name, v in grid.items()}
    # A sweep groups members by config: its aggregate runs are per config, across seeds.
    scope = open_scope(algorithm, callback, env, total_timesteps, group_axes=1 if grid else 0)
    state = run_in_scope(scope, population, values, seed_keys)
    axes = ("config", "seed") if grid else ("seed",)
    return Population(state=state, sweep=values, axes=axes)


def parse_sweep(items: Sequence[str]) -> dict[str, list[float]]:
    """`["learning_rate=1e-3,3e-4", "gamma=0.99,0.999"]` -> `{name: [values]}` (CLI form).

    Raises:
        ValueError: an item is not `name=v1,v2,...` with numbers, or repeats a name.
    """
    out: dict[str, list[float]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name or not text.strip():
            raise ValueError(
                f"--sweep expects NAME=V1,V2,... (e.g. learning_rate=1e-3,3e-4), got {item!r}."
            )
        if name in out:
            raise ValueError(f"--sweep names {name!r} twice.")
        try:
            out[name] = [float(v) for v in text.split(",")]
        except ValueError:
            raise ValueError(f"--sweep {name}: values must be numbers, got {text!r}.") from None
    return out


# ----------------------------------------------------------------------- internals


def _grid(algorithm, env, sweep) -> dict[str, np.ndarray]:
    """Validate `sweep` and expand it to the flat grid `{name: values per config}`."""
    if sweep is None:
        return {}
    if not isinstance(sweep, Mapping) or not sweep:
        raise TypeError(
            f"train_population: `sweep` must be a non-empty dict name -> values, got {sweep!r}."
        )
    lists = {}
    for name, values in sweep.items():
        if (
            isinstance(values, str)
            or not isinstance(values, Sequence | np.ndarray)
            or not len(values)
        ):
            raise TypeError(
                f"train_population: sweep values of {name!r} must be a non-empty list of "
                f"numbers, got {values!r}."
            )
        for value in values:
            _configure(algorithm, env, {name: value})  # raises on an invalid name or value
        lists[name] = [float(v) for v in values]
    combos = list(itertools.product(*lists.values()))
    return {name: np.asarray([c[i] for c in combos], np.float32) for i, name in enumerate(lists)}


def _configure(algorithm, env, values: Mapping[str, Any]):
    """`algorithm` and `env` with the swept fields replaced (traced or concrete)."""
    algo_values, env_values = {}, {}
    for name, value in values.items():
        target, field = (env, name[4:]) if name.startswith("env/") else (algorithm, name)
        owner = "env" if target is env else type(algorithm).__name__
        current = getattr(target, field, None) if field in _field_names(target) else None
        if current is None:
            raise ValueError(
                f"train_population: cannot sweep {name!r}: {owner} has no such field. "
                f"Sweepable: {sorted(_sweepable(algorithm, env))}."
            )
        if not (
            isinstance(current, jax.Array)
            and current.ndim == 0
            and jnp.issubdtype(current.dtype, jnp.inexact)
        ):
            raise ValueError(
                f"train_population: cannot sweep {name!r}: it is static ({current!r}), each "
                f"value would be its own program. Sweepable: {sorted(_sweepable(algorithm, env))}."
            )
        (env_values if target is env else algo_values)[field] = value
    if algo_values:
        algorithm = dataclasses.replace(algorithm, **algo_values)
    if env_values:
        env = dataclasses.replace(env, **env_values)
    return algorithm, env


def _field_names(module) -> set[str]:
    return {f.name for f in dataclasses.fields(module)}


def _sweepable(algorithm, env) -> list[str]:
    out = []
    for prefix, module in (("", algorithm), ("env/", env)):
        for f in dataclasses.fields(module):
            value = getattr(module, f.name)
            if (
                isinstance(value, jax.Array)
                and value.ndim == 0
                and jnp.issubdtype(value.dtype, jnp.inexact)
            ):
                out.append(prefix + f.name)
    return out


def _shard_keys(keys: Key[Array, " n"], sharding: NamedSharding) -> Key[Array, " n"]:
    """Place the seed keys along the seed axis of the mesh. Built from host data, so it
    also works when the mesh spans several processes (`jax.distributed`)."""
    data = np.asarray(jr.key_data(keys))
    placed = jax.make_array_from_callback(data.shape, sharding, lambda index: data[index])
    return jr.wrap_key_data(placed, impl=jr.key_impl(keys))


def _layout(shard, mesh, seed_axis, env_axis):
    """Resolve `shard` / `mesh` / axis names into `(mesh, seed_axis, env_axis)`."""
    if shard is not None:
        if shard not in SHARD_CHOICES:
            raise ValueError(
                f"train_population: `shard` must be one of {SHARD_CHOICES} or None, got {shard!r}."
            )
        if mesh is not None or seed_axis is not None or env_axis is not None:
            raise ValueError(
                "train_population: give either `shard`, or `mesh` with `seed_axis` / "
                "`env_axis`, not both."
            )
        mesh = jax.make_mesh((jax.device_count(),), (shard,))
        seed_axis, env_axis = (shard, None) if shard == "seeds" else (None, shard)
    if mesh is None:
        if seed_axis is not None or env_axis is not None:
            raise ValueError("train_population: `seed_axis` / `env_axis` need a `mesh`.")
        return None, None, None
    if not isinstance(mesh, Mesh):
        raise TypeError(f"train_population: `mesh` must be a jax.sharding.Mesh, got {mesh!r}.")
    if seed_axis is None and env_axis is None:
        raise ValueError("train_population: with a `mesh`, name `seed_axis` and/or `env_axis`.")
    for arg, axis in (("seed_axis", seed_axis), ("env_axis", env_axis)):
        if axis is not None and axis not in mesh.axis_names:
            raise ValueError(
                f"train_population: `{arg}` {axis!r} is not an axis of the mesh {mesh.axis_names}."
            )
    if seed_axis is not None and seed_axis == env_axis:
        raise ValueError(
            "train_population: `seed_axis` and `env_axis` must be different mesh axes."
        )
    return auto_mesh(mesh), seed_axis, env_axis
