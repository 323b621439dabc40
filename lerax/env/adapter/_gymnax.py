"""`GymnaxEnv`: a gymnax environment as a lerax environment."""

from __future__ import annotations

import importlib
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Key, PyTree, UInt8

from lerax.space import AbstractSpace

from .._abstract import AbstractEnvState, AbstractTimeLimitedEnv
from ._gymnax_render import render_gymnax
from ._spaces import box_space, cast_observation, discrete_space

_NO_LIMIT = 2**30  # gymnax's own time limit, disabled: the adapter truncates instead


class GymnaxEnvState(AbstractEnvState):
    """State of `GymnaxEnv`.

    Attributes:
        env_state: The gymnax environment's own state.
        time: Steps taken in this episode.
    """

    env_state: PyTree
    time: Int[Array, ""]


class GymnaxEnv(AbstractTimeLimitedEnv[GymnaxEnvState]):
    """A [gymnax](https://github.com/RobertTLange/gymnax) environment, usable with
    every lerax algorithm and callback.

    Gymnax environments are pure JAX, so the adapter is jittable and vmappable like
    any lerax environment. It calls gymnax's `reset_env` and `step_env` (gymnax's own
    auto-reset is not used: lerax's `AutoReset` does that). Differences from calling
    gymnax directly:

    * gymnax's `done` mixes termination and the time limit. The adapter disables
      gymnax's limit (`params.max_steps_in_episode`) and truncates on its own after
      `max_episode_steps` steps, so `terminated` (no bootstrap) and `truncated`
      (bootstrap) are told apart;
    * the environment parameters are the `params` field, with every float converted
      to a float32 array: change them with `eqx.tree_at` (curricula, sweeps, vmap)
      without recompiling. Integer parameters stay static Python ints;
    * spaces become `lerax.space.Box` / `Discrete` (only those two are supported);
      observations take their space's dtype (boolean planes become float32).

    `render` draws the five classic-control tasks with lerax's pure-JAX renderer;
    other gymnax environments have no jittable renderer and raise
    `NotImplementedError`.

    Args:
        env: A gymnax environment id (`"CartPole-v1"`, `"Breakout-MinAtar"`, ...),
            made with `gymnax.make(env, **make_kwargs)`, or a gymnax `Environment`.
        params: Environment parameters (default: the environment's defaults).
        max_episode_steps: Steps after which an episode is truncated (default:
            `params.max_steps_in_episode`; `None` when the environment has none).
        **make_kwargs: Passed to `gymnax.make` when `env` is an id.

    Raises:
        ImportError: if gymnax is not installed (`pip install lerax[gymnax]`).
        TypeError: if `env` is neither an id nor a gymnax environment, or its spaces
            are not `Box`/`Discrete`.
        ValueError: if `max_episode_steps` is not a positive int.
    """

    params: PyTree
    gymnax_env: Any = eqx.field(static=True)
    max_episode_steps: int | None = eqx.field(static=True)

    def __init__(
        self,
        env: Any,
        params: PyTree | None = None,
        *,
        max_episode_steps: int | None = None,
        **make_kwargs: Any,
    ):
        gymnax = _import_gymnax()
        if isinstance(env, str):
            gymnax_env, default_params = gymnax.make(env, **make_kwargs)
        elif isinstance(env, gymnax.environments.environment.Environment):
            if make_kwargs:
                raise TypeError(
                    f"GymnaxEnv: keyword arguments {sorted(make_kwargs)} are only accepted "
                    "with an environment id (they are passed to gymnax.make)."
                )
            gymnax_env, default_params = env, env.default_params
        else:
            raise TypeError(
                "GymnaxEnv: `env` must be a gymnax environment id (str) or a gymnax "
                f"Environment, got {type(env).__name__}."
            )
        params = default_params if params is None else params
        if max_episode_steps is None and hasattr(params, "max_steps_in_episode"):
            max_episode_steps = int(np.asarray(params.max_steps_in_episode))
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, (int, np.integer))
            or max_episode_steps <= 0
        ):
            raise ValueError(
                "GymnaxEnv: `max_episode_steps` must be a positive int or None, got "
                f"{max_episode_steps!r}."
            )
        self.params = jax.tree.map(_as_parameter, params)
        self.gymnax_env = gymnax_env
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        # Fail now, not inside a compiled program, on unsupported spaces.
        self.observation_space  # noqa: B018
        self.action_space  # noqa: B018

    @property
    def name(self) -> str:
        return str(self.gymnax_env.name)

    @property
    def observation_space(self) -> AbstractSpace:
        return _convert_space(self.gymnax_env.observation_space(self.params), "observation")

    @property
    def action_space(self) -> AbstractSpace:
        return _convert_space(self.gymnax_env.action_space(self.params), "action")

    def _step_params(self) -> PyTree:
        """The parameters gymnax steps with: its own time limit disabled."""
        if self.max_episode_steps is None or not hasattr(self.params, "max_steps_in_episode"):
            return self.params
        old = self.params.max_steps_in_episode
        limit = jnp.asarray(_NO_LIMIT, old.dtype) if isinstance(old, jax.Array) else _NO_LIMIT
        return self.params.replace(max_steps_in_episode=limit)

    def reset(self, *, key: Key[Array, ""]) -> tuple[GymnaxEnvState, Array]:
        observation, env_state = self.gymnax_env.reset_env(key, self._step_params())
        state = GymnaxEnvState(env_state=_canonical(env_state), time=jnp.zeros((), jnp.int32))
        return state, cast_observation(observation, self.observation_space)

    def step(
        self, state: GymnaxEnvState, action: Array, *, key: Key[Array, ""]
    ) -> tuple[
        GymnaxEnvState, Array, Float[Array, ""], Bool[Array, ""], Bool[Array, ""], dict[str, Any]
    ]:
        observation, env_state, reward, done, info = self.gymnax_env.step_env(
            key, state.env_state, action, self._step_params()
        )
        time = state.time + 1
        if self.max_episode_steps is None:
            truncated = jnp.zeros((), bool)
        else:
            truncated = time >= self.max_episode_steps
        new_state = GymnaxEnvState(env_state=_canonical(env_state), time=time)
        return (
            new_state,
            cast_observation(observation, self.observation_space),
            jnp.asarray(reward, jnp.float32),
            jnp.asarray(done, bool),
            truncated,
            jax.tree.map(jnp.asarray, dict(info)),
        )

    def render(
        self, state: GymnaxEnvState, *, width: int = 600, height: int = 400
    ) -> UInt8[Array, "H W 3"]:
        return render_gymnax(
            self.gymnax_env, self.params, state.env_state, width=width, height=height
        )


def _import_gymnax():
    try:
        return importlib.import_module("gymnax")
    except ImportError as error:
        raise ImportError(
            "GymnaxEnv needs gymnax: `pip install lerax[gymnax]` (or `pip install gymnax`)."
        ) from error


def _as_parameter(leaf: Any) -> Any:
    """Floats become float32 arrays (traced, sweepable); ints and bools stay static."""
    if isinstance(leaf, bool) or isinstance(leaf, (int, np.integer)):
        return leaf
    if isinstance(leaf, (float, np.floating)):
        return jnp.asarray(leaf, jnp.float32)
    array = jnp.asarray(leaf)
    if jnp.issubdtype(array.dtype, jnp.floating):
        return array.astype(jnp.float32)
    return array


def _canonical(tree: PyTree) -> PyTree:
    """Arrays with fixed (not weak) dtypes, so states carry through loops unchanged."""

    def fix(leaf):
        array = jnp.asarray(leaf)
        return jnp.asarray(array, dtype=array.dtype)

    return jax.tree.map(fix, tree)


def _convert_space(space: Any, what: str) -> AbstractSpace:
    spaces = importlib.import_module("gymnax.environments.spaces")
    if isinstance(space, spaces.Discrete):
        return discrete_space(space.n, "GymnaxEnv")
    if isinstance(space, spaces.Box):
        return box_space(space.low, space.high, tuple(space.shape), space.dtype)
    raise TypeError(
        f"GymnaxEnv: the {what} space {type(space).__name__} is not supported "
        "(only gymnax Box and Discrete)."
    )
