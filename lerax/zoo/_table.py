"""The table of tuned defaults (`hyperparameters.toml`) and what builds from it."""

from __future__ import annotations

import copy
import functools
import importlib
import tomllib
from pathlib import Path
from typing import Any

import jax

ALGORITHMS = ("ppo", "a2c", "dqn", "sac")
"""The algorithms `lerax train` and `make` accept."""
BUILT_IN_ENVS = ("CartPole", "Acrobot", "MountainCar", "MountainCarContinuous", "Pendulum")
"""The built-in environments (`lerax.env`)."""
ADAPTERS = {"gymnax": "GymnaxEnv", "gymnasium": "GymnasiumEnv", "brax": "BraxEnv"}
"""`PREFIX:ID` env names and the adapter class each builds."""
_EXTRAS = {"gymnax": "gymnax", "gymnasium": "dev", "brax": "brax"}
_ACTIONS = {"ppo": "any", "a2c": "any", "dqn": "discrete", "sac": "continuous"}
_CLASSES = {"ppo": "PPO", "a2c": "A2C", "dqn": "DQN", "sac": "SAC"}
_POLICY_KEYS = ("hidden", "activation", "use_sde", "sde_sample_freq", "log_std_init", "ortho_init")
_ACTIVATIONS = {"tanh": jax.nn.tanh, "relu": jax.nn.relu, "gelu": jax.nn.gelu, "elu": jax.nn.elu}
_DEFAULT_TIMESTEPS = 100_000
"""The budget of an (algorithm, env) pair the table has no entry for."""
_TABLE_FILE = Path(__file__).with_name("hyperparameters.toml")


class ZooError(ValueError):
    """A name the table cannot answer for (algorithm, env, hyper-parameter, value).

    Its message is one line that names the problem and the accepted values."""


@functools.cache
def _table() -> dict[str, dict[str, dict[str, Any]]]:
    with _TABLE_FILE.open("rb") as file:
        return tomllib.load(file)


def table_path() -> Path:
    """Where the table lives (one readable TOML file in the package)."""
    return _TABLE_FILE


def check_algorithm(algorithm: str) -> str:
    """The lower-cased algorithm name.

    Raises:
        ZooError: for an unknown name.
    """
    if not isinstance(algorithm, str) or algorithm.lower() not in ALGORITHMS:
        raise ZooError(f"unknown algorithm {algorithm!r}; accepted: {', '.join(ALGORITHMS)}")
    return algorithm.lower()


def table_key(env: str) -> str:
    """The table entry an env name uses: a built-in name as is; an adapter id of a
    classic-control task (`gymnax:CartPole-v1`) uses the built-in entry of the same
    task (`CartPole`)."""
    if ":" not in env:
        return env
    base = env.split(":", 1)[1].split("-v")[0]
    return base if base in BUILT_IN_ENVS else env


def entries() -> list[tuple[str, str]]:
    """Every `(algorithm, env)` the table has tuned defaults for, in table order."""
    return [(algo, env) for algo in _table() for env in _table()[algo]]


def accepted_envs(algorithm: str) -> list[str]:
    """The built-in envs `algorithm` supports (its action kind), table entries first."""
    algorithm = check_algorithm(algorithm)
    tuned = list(_table().get(algorithm, {}))
    return tuned + [env for env in BUILT_IN_ENVS if env not in tuned and _fits(algorithm, env)]


def _fits(algorithm: str, env: str) -> bool:
    continuous = env in ("MountainCarContinuous", "Pendulum")
    kind = _ACTIONS[algorithm]
    return kind == "any" or (kind == "continuous") == continuous


def hyperparameters(algorithm: str, env: str) -> dict[str, Any]:
    """The tuned defaults of `algorithm` on `env`, as a fresh dict.

    Keys: `timesteps` (the budget), `algorithm` (keyword arguments of the algorithm
    class), `policy` (`hidden`, `activation`), and where known `zoo` (the
    rl-baselines3-zoo score and budget), `normalize` (train behind
    `NormalizeObservation` and `NormalizeReward`, as the zoo's VecNormalize; see
    `training_env`), `pool_statistics` (false: each training env keeps its own
    statistics; default true, pooled as VecNormalize's), `notes` (what lerax
    does not map), `measured` (what `benchmarks/zoo.py` measured). An env the
    table has no entry for gets the algorithm's own defaults and a budget of
    100k steps.

    Example:
        `lerax.zoo.hyperparameters("ppo", "CartPole")["algorithm"]["num_envs"]` is 8.

    Raises:
        ZooError: for an unknown algorithm.
    """
    algorithm = check_algorithm(algorithm)
    entry = _table().get(algorithm, {}).get(table_key(env))
    if entry is None:
        return {"timesteps": _DEFAULT_TIMESTEPS, "algorithm": {}, "policy": {}}
    entry = copy.deepcopy(entry)
    entry.setdefault("algorithm", {})
    entry.setdefault("policy", {})
    return entry


def apply_overrides(entry: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`entry` with `overrides` applied: `timesteps`, `normalize` and
    `pool_statistics` (bools),
    `hidden`/`activation`/`use_sde`/`sde_sample_freq`/`log_std_init` (the policy;
    `use_sde = false` also drops the table's other gSDE settings), `target_update.every` /
    `target_update.tau`, or any keyword of the algorithm class (checked when the
    algorithm is built).

    Raises:
        ZooError: for a `normalize`/`pool_statistics` that is not a bool, or an unknown
            `target_update` field.
    """
    entry = copy.deepcopy(entry)
    for name, value in overrides.items():
        if name == "timesteps":
            entry["timesteps"] = value
        elif name in ("normalize", "pool_statistics"):
            if not isinstance(value, bool):
                raise ZooError(f"{name} must be true or false, got {value!r}")
            entry[name] = value
        elif name in _POLICY_KEYS:
            entry["policy"][name] = value
            if name == "use_sde" and value is False:  # the table's gSDE settings go with it
                for key in ("sde_sample_freq", "log_std_init"):
                    if key not in overrides:
                        entry["policy"].pop(key, None)
        elif name.startswith("target_update."):
            field = name.split(".", 1)[1]
            if field not in ("every", "tau"):
                raise ZooError(
                    f"unknown {name!r}; accepted: target_update.every, target_update.tau"
                )
            entry["algorithm"]["target_update"] = {field: value}
        else:
            entry["algorithm"][name] = value
    return entry


def make_env(env: str):
    """The environment named `env`: a built-in name (`"CartPole"`) or an adapter id
    `"gymnax:CartPole-v1"`, `"gymnasium:LunarLander-v3"`, `"brax:ant"`.

    Raises:
        ZooError: for an unknown name, or an adapter whose extra is not installed.
    """
    from lerax import env as envs

    if not isinstance(env, str):
        raise ZooError(f"the env must be a name, got {type(env).__name__}")
    if ":" not in env:
        if env not in BUILT_IN_ENVS:
            raise ZooError(
                f"unknown env {env!r}; accepted: {', '.join(BUILT_IN_ENVS)}, or "
                f"{', '.join(p + ':ID' for p in ADAPTERS)}"
            )
        return getattr(envs, env)()
    prefix, name = env.split(":", 1)
    if prefix not in ADAPTERS:
        raise ZooError(f"unknown adapter {prefix!r} in {env!r}; accepted: {', '.join(ADAPTERS)}")
    try:
        importlib.import_module(prefix)
    except ImportError:
        raise ZooError(
            f"{env!r} needs {prefix}, which is not installed; run: pip install "
            f"'lerax[{_EXTRAS[prefix]}]'"
        ) from None
    try:
        return getattr(envs, ADAPTERS[prefix])(name)
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ZooError(f"{prefix} cannot make {name!r}: {detail}") from None
    except Exception as error:  # gymnasium's registry errors have their own classes
        if type(error).__module__.startswith(prefix):
            raise ZooError(f"{prefix} cannot make {name!r}: {error}") from None
        raise


def normalized_env(env, entry: dict[str, Any]):
    """`env` as the entry trains on it: behind `NormalizeObservation` and
    `NormalizeReward` (the algorithm's `gamma`, clip 10, epsilon 1e-8: the
    defaults of Stable-Baselines3's VecNormalize) when `entry["normalize"]` is
    true, else `env` itself. As VecNormalize's, the statistics are pooled across
    the algorithm's training envs (`axis_name=ENV_AXIS`), so this env is stepped
    by the algorithms (or under `jax.vmap(..., axis_name=ENV_AXIS)`); evaluate on
    `without_normalization(env)`. With `pool_statistics = false`, or with
    `num_envs = 1` (nothing to pool; a one-env axis would only change last bits),
    the layers have no axis name and each env keeps its own statistics."""
    from lerax.env.wrapper import ENV_AXIS, NormalizeObservation, NormalizeReward

    if not entry.get("normalize", False):
        return env
    gamma = entry["algorithm"].get("gamma", 0.99)
    pooled = entry.get("pool_statistics", True) and entry["algorithm"].get("num_envs") != 1
    axis = ENV_AXIS if pooled else None
    reward = NormalizeReward(env, gamma=gamma, axis_name=axis)
    return NormalizeObservation(reward, axis_name=axis)


def training_env(algorithm: str, env: str, **overrides: Any):
    """The env object `make`'s algorithm trains on: `make_env(env)`, behind the
    normalisation layers if the table entry (or `normalize=` among `overrides`)
    says so.

    A policy trained behind them acts on the task's own observations as
    `state.deployable_policy()` (an `ObservationNormalizedPolicy`); evaluate it on
    `lerax.env.wrapper.without_normalization(env)`, i.e. `make_env(env)`.

    Raises:
        ZooError: as `make`.
    """
    algorithm = check_algorithm(algorithm)
    env_object = make_env(env)
    check_fits(algorithm, env, env_object)
    entry = apply_overrides(hyperparameters(algorithm, env), overrides)
    return normalized_env(env_object, entry)


def check_fits(algorithm: str, env_name: str, env) -> None:
    """Raise a one-line `ZooError` if `algorithm` cannot act in `env`'s action space."""
    from lerax.space import Box, Discrete

    kind = _ACTIONS[algorithm]
    space = env.action_space
    ok = (
        kind == "any"
        or (kind == "discrete" and isinstance(space, Discrete))
        or (kind == "continuous" and isinstance(space, Box))
    )
    if not ok:
        raise ZooError(
            f"{algorithm} needs {kind} actions and {env_name} has {type(space).__name__} "
            f"actions; accepted envs for {algorithm}: {', '.join(accepted_envs(algorithm))}"
        )


def build_algorithm(algorithm: str, settings: dict[str, Any]):
    """The algorithm object from its keyword arguments (a `target_update` table
    becomes `HardUpdate(every=...)` or `PolyakUpdate(tau=...)`).

    Raises:
        ZooError: for a keyword the algorithm does not have.
        TypeError, ValueError: the algorithm's own checks, naming the argument.
    """
    import dataclasses

    from lerax import algorithm as algorithms

    cls = getattr(algorithms, _CLASSES[algorithm])
    settings = dict(settings)
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        accepted = ", ".join(["timesteps", *_POLICY_KEYS, *fields])
        raise ZooError(
            f"{cls.__name__} has no hyper-parameter {unknown[0]!r}; accepted: {accepted}"
        )
    update = settings.get("target_update")
    if isinstance(update, dict):
        if set(update) == {"every"}:
            settings["target_update"] = algorithms.HardUpdate(every=update["every"])
        elif set(update) == {"tau"}:
            settings["target_update"] = algorithms.PolyakUpdate(tau=update["tau"])
        else:
            raise ZooError(f"target_update must be {{every = N}} or {{tau = X}}, got {update!r}")
    return cls(**settings)


def build_policy(algorithm: str, env, settings: dict[str, Any], *, key):
    """The algorithm's MLP policy for `env` with `hidden`, `activation` and
    `ortho_init`; with `use_sde = true`, gSDE (PPO, A2C: `GSDEActorCriticPolicy`;
    SAC: `MLPSACPolicy(use_sde=True)`) with `log_std_init` and `sde_sample_freq`
    (its `sample_freq`).

    Raises:
        ZooError: for `use_sde` with DQN, or gSDE keys without `use_sde`.
    """
    from lerax.policy import GSDEActorCriticPolicy, MLPActorCriticPolicy, MLPQPolicy, MLPSACPolicy

    cls = {"dqn": MLPQPolicy, "sac": MLPSACPolicy}.get(algorithm, MLPActorCriticPolicy)
    kwargs = dict(settings)
    use_sde = kwargs.pop("use_sde", False)
    if not isinstance(use_sde, bool):
        raise ZooError(f"use_sde must be true or false, got {use_sde!r}")
    if use_sde:
        if algorithm == "dqn":
            raise ZooError("use_sde (gSDE) is for ppo, a2c and sac; dqn's actions are discrete")
        if algorithm == "sac":
            kwargs["use_sde"] = True
        else:
            cls = GSDEActorCriticPolicy
        if "sde_sample_freq" in kwargs:
            kwargs["sample_freq"] = kwargs.pop("sde_sample_freq")
    else:
        extra = sorted({"sde_sample_freq", "log_std_init"} & set(kwargs))
        if extra:
            raise ZooError(f"{extra[0]} needs use_sde = true (the gSDE policy)")
    if "hidden" in kwargs:
        hidden = kwargs["hidden"]
        kwargs["hidden"] = tuple(hidden) if isinstance(hidden, list | tuple) else (hidden,)
    if "activation" in kwargs:
        name = kwargs["activation"]
        if name not in _ACTIVATIONS:
            raise ZooError(f"unknown activation {name!r}; accepted: {', '.join(_ACTIVATIONS)}")
        kwargs["activation"] = _ACTIVATIONS[name]
    return cls(env=env, key=key, **kwargs)


def make(algorithm: str, env: str, *, key=None, **overrides: Any):
    """The tuned algorithm, a fresh policy and the step budget for `env`.

    Args:
        algorithm: `"ppo"`, `"a2c"`, `"dqn"` or `"sac"`.
        env: A built-in env name or an adapter id (see `make_env`).
        key: PRNG key of the policy's initialisation (default `jax.random.key(0)`).
        **overrides: Entries to change, as `--set` does on the command line
            (e.g. `learning_rate=3e-4`, `timesteps=50_000`, `hidden=(128, 128)`).

    Returns:
        `(algorithm, policy, timesteps)`; train with
        `algorithm.learn(env_object, policy, timesteps, key=...)`, the env object
        from `training_env(algorithm, env, **overrides)` (the policy is built for
        it). For an entry with `normalize = true`, train with `algorithm.init` and
        `algorithm.train` and deploy `state.deployable_policy()`, which carries the
        observation statistics.

    Raises:
        ZooError: for an unknown algorithm, env or hyper-parameter, or an env whose
            actions the algorithm cannot take.
    """
    import jax.random as jr

    algorithm = check_algorithm(algorithm)
    env_object = training_env(algorithm, env, **overrides)
    entry = apply_overrides(hyperparameters(algorithm, env), overrides)
    key = jr.key(0) if key is None else key
    return (
        build_algorithm(algorithm, entry["algorithm"]),
        build_policy(algorithm, env_object, entry["policy"], key=key),
        entry["timesteps"],
    )
