"""`BraxEnv`: a Brax environment as a lerax environment."""

from __future__ import annotations

import copy
import importlib
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Key, PyTree, UInt8

from lerax.space import Box

from .._abstract import AbstractEnvState, AbstractTimeLimitedEnv


class BraxEnvState(AbstractEnvState):
    """State of `BraxEnv`.

    Attributes:
        brax_state: Brax's own `State` (pipeline state, observation, reward, done,
            metrics, info).
        time: Steps taken in this episode.
    """

    brax_state: PyTree
    time: Int[Array, ""]


class BraxEnv(AbstractTimeLimitedEnv[BraxEnvState]):
    """A [Brax](https://github.com/google/brax) environment, usable with every lerax
    algorithm and callback.

    Brax environments are pure JAX, so the adapter is jittable and vmappable. It
    wraps a bare Brax env (`brax.envs.get_environment`), without Brax's own
    episode or auto-reset wrappers: lerax's `AutoReset` resets, and the adapter
    truncates after `max_episode_steps` steps, so Brax's `done` is a true
    termination (`terminated`) and the time limit is `truncated`.

    * `sys`, the physical system (masses, friction, geometry, ...), is an array field
      for Brax's pipeline envs: change it with `eqx.tree_at` without recompiling; the
      adapter hands it to Brax on every call (as Brax's own domain randomisation
      does). For other Brax envs `sys` is `None`;
    * the action space is `Box(-1, 1, (action_size,))`, the observation space an
      unbounded `Box((observation_size,))`; dict observations are not supported;
    * `info` holds Brax's `metrics` (e.g. reward terms);
    * the lerax key is handed to Brax as a raw `uint32[2]` key (Brax's convention);
      Brax's `step` takes no key;
    * `render` raises `NotImplementedError`: Brax renders trajectories on the host
      with MuJoCo, not inside a compiled program.

    Args:
        env: A Brax environment name (`"inverted_pendulum"`, `"ant"`, ...), made with
            `brax.envs.get_environment(env, **env_kwargs)` (e.g. `backend="spring"`),
            or a Brax `Env`.
        max_episode_steps: Steps after which an episode is truncated.
        **env_kwargs: Passed to `brax.envs.get_environment` when `env` is a name.

    Raises:
        ImportError: if Brax is not installed (`pip install lerax[brax]`).
        TypeError: if `env` is neither a name nor a Brax env, or its observations
            are not a flat array.
        ValueError: if `max_episode_steps` is not a positive int.
    """

    sys: PyTree | None
    brax_env: Any = eqx.field(static=True)
    env_name: str = eqx.field(static=True)
    max_episode_steps: int = eqx.field(static=True)
    observation_size: int = eqx.field(static=True)

    def __init__(self, env: Any, *, max_episode_steps: int = 1000, **env_kwargs: Any):
        envs = _import_brax_envs()
        if isinstance(env, str):
            brax_env, name = envs.get_environment(env, **env_kwargs), env
        elif isinstance(env, envs.Env):
            if env_kwargs:
                raise TypeError(
                    f"BraxEnv: keyword arguments {sorted(env_kwargs)} are only accepted with "
                    "an environment name (they are passed to brax.envs.get_environment)."
                )
            brax_env, name = env, type(env).__name__
        else:
            raise TypeError(
                "BraxEnv: `env` must be a Brax environment name (str) or a brax.envs.Env, "
                f"got {type(env).__name__}."
            )
        if (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, (int, np.integer))
            or max_episode_steps <= 0
        ):
            raise ValueError(
                f"BraxEnv: `max_episode_steps` must be a positive int, got {max_episode_steps!r}."
            )
        # Brax's `observation_size` runs `reset` op by op (seconds); trace it instead.
        observation = jax.eval_shape(brax_env.reset, jax.ShapeDtypeStruct((2,), jnp.uint32)).obs
        if not isinstance(observation, jax.ShapeDtypeStruct) or len(observation.shape) != 1:
            raise TypeError(
                f"BraxEnv: {name} has observations {observation}; only flat array "
                "observations are supported."
            )
        pipeline = isinstance(brax_env, envs.PipelineEnv)
        self.sys = jax.tree.map(jnp.asarray, brax_env.sys) if pipeline else None
        self.brax_env = brax_env
        self.env_name = str(name)
        self.max_episode_steps = int(max_episode_steps)
        self.observation_size = int(observation.shape[0])

    @property
    def name(self) -> str:
        return self.env_name

    @property
    def observation_space(self) -> Box:
        return Box(-np.inf, np.inf, shape=(self.observation_size,))

    @property
    def action_space(self) -> Box:
        return Box(-1.0, 1.0, shape=(int(self.brax_env.action_size),))

    def _env(self) -> Any:
        """The Brax env, running with this adapter's `sys`."""
        if self.sys is None:
            return self.brax_env
        env = copy.copy(self.brax_env)
        env.sys = self.sys
        return env

    def reset(self, *, key: Key[Array, ""]) -> tuple[BraxEnvState, Float[Array, " n"]]:
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jr.key_data(key)
        brax_state = self._env().reset(key)
        state = BraxEnvState(brax_state=brax_state, time=jnp.zeros((), jnp.int32))
        return state, brax_state.obs

    def step(
        self, state: BraxEnvState, action: Float[Array, " a"], *, key: Key[Array, ""]
    ) -> tuple[
        BraxEnvState,
        Float[Array, " n"],
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        del key  # Brax's step is deterministic given its state
        brax_state = self._env().step(state.brax_state, action)
        time = state.time + 1
        new_state = BraxEnvState(brax_state=brax_state, time=time)
        return (
            new_state,
            brax_state.obs,
            jnp.asarray(brax_state.reward, jnp.float32),
            brax_state.done > 0,
            time >= self.max_episode_steps,
            dict(brax_state.metrics),
        )

    def render(
        self, state: BraxEnvState, *, width: int = 600, height: int = 400
    ) -> UInt8[Array, "H W 3"]:
        raise NotImplementedError(
            f"BraxEnv({self.env_name!r}) cannot render inside a compiled program: Brax "
            "renders trajectories on the host with MuJoCo (brax.io.image)."
        )


def _import_brax_envs():
    try:
        return importlib.import_module("brax.envs")
    except ImportError as error:
        raise ImportError(
            "BraxEnv needs brax: `pip install lerax[brax]` (or `pip install brax`)."
        ) from error
