"""`GymnasiumEnv`: a Gymnasium environment stepped on the host (the slow path)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Key, UInt8

from lerax import host
from lerax.space import AbstractSpace, Box, Discrete

from .._abstract import AbstractEnv, AbstractEnvState, AbstractTimeLimitedEnv
from ..wrapper._abstract import AbstractWrapper, WrapperState
from ._gymnasium_host import GymnasiumHost, lookup

_RESET_SEED_STREAM = 0x6E5E7  # folded into the step key for a same-step reset's seed


class GymnasiumHostState(AbstractEnvState):
    """What the program keeps of a host-side Gymnasium env.

    Attributes:
        ticket: Counts the host's replies; passed back in the next query so the
            queries run in program order.
        reset_observation: The observation the host reset to when the last step
            ended an episode (otherwise that step's observation).
    """

    ticket: Int[Array, ""]
    reset_observation: Array


class GymnasiumHostEnv(AbstractEnv[GymnasiumHostState]):
    """The crossing part of `GymnasiumEnv`: `reset` and `step` ask the host.

    Use `GymnasiumEnv`; on its own this env has no way to hand `AutoReset` the
    observation its host already reset to.
    """

    handle: int = eqx.field(static=True)
    env_name: str = eqx.field(static=True)
    observation_space_: AbstractSpace
    action_space_: AbstractSpace

    @property
    def name(self) -> str:
        return self.env_name

    @property
    def observation_space(self) -> AbstractSpace:
        return self.observation_space_

    @property
    def action_space(self) -> AbstractSpace:
        return self.action_space_

    def _query(self, channel: str, payload: dict, result_shape: dict) -> dict:
        return host.query(
            channel,
            payload,
            result_shape,
            max_depth=1,
            depth_message=(
                f"GymnasiumEnv({self.env_name!r}) steps Gymnasium on the host and supports "
                "exactly one vmapped axis: the envs of one run (`num_envs`). It cannot be "
                "vmapped over runs (seeds, hyper-parameters); use a pure-JAX env "
                "(lerax.env, GymnaxEnv, BraxEnv) for that."
            ),
        )

    def reset(self, *, key: Key[Array, ""]) -> tuple[GymnasiumHostState, Array]:
        space = self.observation_space_
        reply = self._query(
            lookup(self.handle).reset_channel,
            {"seed": _seed(key), "ticket": jnp.zeros((), jnp.int32)},
            {
                "observation": jax.ShapeDtypeStruct(space.shape, space.dtype),
                "ticket": jax.ShapeDtypeStruct((), jnp.int32),
            },
        )
        observation = reply["observation"]
        return GymnasiumHostState(
            ticket=reply["ticket"], reset_observation=observation
        ), observation

    def step(
        self, state: GymnasiumHostState, action: Array, *, key: Key[Array, ""]
    ) -> tuple[
        GymnasiumHostState,
        Array,
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        space = self.observation_space_
        observation = jax.ShapeDtypeStruct(space.shape, space.dtype)
        reply = self._query(
            lookup(self.handle).step_channel,
            {
                "action": jnp.asarray(action, self.action_space_.dtype),
                "reset_seed": _seed(jr.fold_in(key, _RESET_SEED_STREAM)),
                "ticket": state.ticket,
            },
            {
                "observation": observation,
                "reward": jax.ShapeDtypeStruct((), jnp.float32),
                "terminated": jax.ShapeDtypeStruct((), jnp.bool_),
                "truncated": jax.ShapeDtypeStruct((), jnp.bool_),
                "reset_observation": observation,
                "ticket": jax.ShapeDtypeStruct((), jnp.int32),
            },
        )
        new_state = GymnasiumHostState(
            ticket=reply["ticket"], reset_observation=reply["reset_observation"]
        )
        return (
            new_state,
            reply["observation"],
            reply["reward"],
            reply["terminated"],
            reply["truncated"],
            {},
        )

    def render(
        self, state: GymnasiumHostState, *, width: int = 600, height: int = 400
    ) -> UInt8[Array, "H W 3"]:
        raise NotImplementedError(
            f"GymnasiumEnv({self.env_name!r}) cannot render inside the compiled program: "
            "the state lives on the host. Record videos with Gymnasium's own wrappers "
            "(pass a factory, e.g. `lambda: RecordVideo(gymnasium.make(..., "
            "render_mode='rgb_array'), folder)`), or train on a pure-JAX env."
        )


class GymnasiumEnv(AbstractWrapper[WrapperState], AbstractTimeLimitedEnv[WrapperState]):
    """A [Gymnasium](https://gymnasium.farama.org) environment stepped on the host.

    The SLOW PATH: every vectorised env step is one host crossing (one
    `lerax.host.query` for all `num_envs` envs), and Gymnasium steps its envs one by
    one in Python. Use it for environments that exist only in Gymnasium; anything
    available in pure JAX (`lerax.env`, `GymnaxEnv`, `BraxEnv`) is far faster.

    How it behaves:

    * one Gymnasium env per lerax env: outside `vmap` one env, under the driver's
      `vmap` over `num_envs` env `i` gets its own Gymnasium env (made on its first
      reset). The Module stores only a handle; the envs live in a host registry;
    * resets are seeded from the lerax key (`env.reset(seed=...)`), so runs repeat;
    * when a step ends an episode (terminated or truncated), the host resets that env
      in the same crossing and keeps the new episode's first observation in the
      state. `GymnasiumEnv` is a wrapper so that `AutoReset` (which the driver puts
      around every env) takes that observation instead of resetting again: exactly
      one Gymnasium reset per finished episode, and `final_observation` is the true
      last observation. Called without `AutoReset`, `step` still starts the next
      episode on the host, and `reset` always starts a fresh one;
    * time limits are Gymnasium's (`max_episode_steps=` of `gymnasium.make`): do not
      wrap it in lerax's `TimeLimit`, whose truncations the host would not see;
    * it is jittable, but supports only the one vmapped axis of the envs of a run:
      `jax.vmap(learn)` over seeds raises a `ValueError` while tracing;
    * `render` raises `NotImplementedError` (the state is on the host).

    Evaluation callbacks stepping the SAME instance would step the training envs:
    give `EvalCallback` its own `GymnasiumEnv`.

    Args:
        env: A Gymnasium id (made with `gymnasium.make(env, **make_kwargs)`) or a
            function of no arguments returning a new Gymnasium env.
        **make_kwargs: Passed to `gymnasium.make` when `env` is an id.

    Raises:
        ImportError: if Gymnasium is not installed.
        TypeError: if `env` is neither an id nor a callable, or the env's spaces are
            not `Box`/`Discrete`.
    """

    env: GymnasiumHostEnv
    max_episode_steps: int | None = eqx.field(static=True)

    def __init__(self, env: str | Callable[[], Any], **make_kwargs: Any):
        gymnasium = _import_gymnasium()
        if isinstance(env, str):
            env_id = env

            def factory():
                return gymnasium.make(env_id, **make_kwargs)

        elif callable(env):
            if make_kwargs:
                raise TypeError(
                    f"GymnasiumEnv: keyword arguments {sorted(make_kwargs)} are only "
                    "accepted with an environment id (they are passed to gymnasium.make)."
                )
            factory = env
        else:
            raise TypeError(
                "GymnasiumEnv: `env` must be a Gymnasium id (str) or a function returning "
                f"a Gymnasium env, got {type(env).__name__}."
            )
        host_side = GymnasiumHost(factory)
        try:
            probe = host_side.probe
            observation_space = _convert_space(probe.observation_space, "observation")
            action_space = _convert_space(probe.action_space, "action")
        except Exception:
            host_side.close()
            raise
        host_side.observation_shape = observation_space.shape
        host_side.observation_dtype = np.dtype(observation_space.dtype)
        if isinstance(action_space, Discrete):
            host_side.action_start = int(getattr(probe.action_space, "start", 0))
        else:
            host_side.action_dtype = np.dtype(probe.action_space.dtype)
        spec = getattr(probe, "spec", None)
        name = env if isinstance(env, str) else (spec.id if spec is not None else "gymnasium")
        limit = getattr(spec, "max_episode_steps", None) if spec is not None else None
        self.env = GymnasiumHostEnv(
            handle=host_side.handle,
            env_name=str(name),
            observation_space_=observation_space,
            action_space_=action_space,
        )
        self.max_episode_steps = None if limit is None else int(limit)

    @property
    def observation_space(self) -> AbstractSpace:
        return self.env.observation_space

    @property
    def action_space(self) -> AbstractSpace:
        return self.env.action_space

    @property
    def host(self) -> GymnasiumHost:
        """The host side: the Gymnasium env objects (`envs`, keyed by env index) and
        the counts of host `resets` and `steps`."""
        return lookup(self.env.handle)

    def close(self) -> None:
        """Close the Gymnasium envs; the env cannot be used afterwards."""
        lookup(self.env.handle).close()

    def reset(self, *, key: Key[Array, ""]) -> tuple[WrapperState, Array]:
        state, observation = self.env.reset(key=key)
        return WrapperState(state), observation

    def reset_episode(
        self, state: WrapperState, *, key: Key[Array, ""]
    ) -> tuple[WrapperState, Array]:
        """Hand over the observation the host already reset to (no host crossing)."""
        del key  # the host reset was seeded from the step key
        return state, state.env_state.reset_observation

    def step(
        self, state: WrapperState, action: Array, *, key: Key[Array, ""]
    ) -> tuple[WrapperState, Array, Float[Array, ""], Bool[Array, ""], Bool[Array, ""], dict]:
        env_state, observation, reward, terminated, truncated, info = self.env.step(
            state.env_state, action, key=key
        )
        return WrapperState(env_state), observation, reward, terminated, truncated, info


def _seed(key: Key[Array, ""]) -> Array:
    return jr.bits(key, (), jnp.uint32)


def _import_gymnasium():
    try:
        return importlib.import_module("gymnasium")
    except ImportError as error:
        raise ImportError("GymnasiumEnv needs gymnasium: `pip install gymnasium`.") from error


def _convert_space(space: Any, what: str) -> AbstractSpace:
    spaces = importlib.import_module("gymnasium.spaces")
    if isinstance(space, spaces.Discrete):
        return Discrete(int(space.n))
    if isinstance(space, spaces.Box):
        dtype = np.dtype(space.dtype)
        if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
            dtype = np.dtype(np.float32)
        return Box(space.low, space.high, shape=space.shape, dtype=dtype)
    raise TypeError(
        f"GymnasiumEnv: the {what} space {type(space).__name__} is not supported "
        "(only gymnasium.spaces.Box and Discrete)."
    )
