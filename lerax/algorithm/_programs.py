"""The compiled programs behind `AbstractAlgorithm`'s entry points, and their
argument checks."""

from __future__ import annotations

import contextlib
from typing import Any

import equinox as eqx

from lerax import host

from ._sharding import constrain_envs


def host_switching(crossings: bool):
    """While a program with host crossings runs, keep them from waiting behind
    host-side writer threads for the GIL (see `lerax.host.responsive_switching`)."""
    return host.responsive_switching() if crossings else contextlib.nullcontext()


def check_timesteps(total_timesteps: Any) -> int:
    if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, int):
        raise TypeError(
            f"`total_timesteps` must be a positive int, got {type(total_timesteps).__name__}: "
            f"{total_timesteps!r}."
        )
    if total_timesteps <= 0:
        raise ValueError(f"`total_timesteps` must be a positive int, got {total_timesteps}.")
    return total_timesteps


@eqx.filter_jit
def compiled_init(algorithm, env, policy, total_timesteps, key, callback, env_sharding=None):
    state = algorithm._init_state(env, policy, total_timesteps, key, callback)
    return constrain_envs(state, env_sharding)


@eqx.filter_jit
def compiled_with_callbacks(algorithm, state, total_timesteps, callback):
    return algorithm._fresh_callback_states(state, total_timesteps, callback)


@eqx.filter_jit
def compiled_train(algorithm, state, until, callback, env_sharding=None):
    with host.member_scope(host.member_witness(algorithm, state, until, callback)):
        return algorithm._run(constrain_envs(state, env_sharding), until, callback, env_sharding)


@eqx.filter_jit
def compiled_learn(algorithm, env, policy, total_timesteps, key, callback, env_sharding=None):
    with host.member_scope(host.member_witness(algorithm, env, policy, key, callback)):
        state = algorithm._init_state(env, policy, total_timesteps, key, callback)
        state = constrain_envs(state, env_sharding)
        return algorithm._run(state, state.total_iterations, callback, env_sharding)
