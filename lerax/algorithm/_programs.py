"""The compiled programs behind `AbstractAlgorithm`'s entry points, and their
argument checks."""

from __future__ import annotations

from typing import Any

import equinox as eqx

from lerax import host

from ._driver import send_run_end
from ._loop import fresh_callback_states, init_state, run
from ._sharding import constrain_envs


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
    state = init_state(algorithm, env, policy, total_timesteps, key, callback)
    return constrain_envs(state, env_sharding)


@eqx.filter_jit
def compiled_with_callbacks(algorithm, state, total_timesteps, callback):
    return fresh_callback_states(algorithm, state, total_timesteps, callback)


@eqx.filter_jit
def compiled_train(algorithm, state, until, callback, env_sharding, token, crossings):
    """`train`'s program. `token` (traced) routes its crossings to the running call's
    receivers; `crossings` (static) says whether any callback has receivers."""
    with (
        host.run_token(token),
        host.member_scope(host.member_witness(algorithm, state, until, callback)),
        host.crossing_order(),
    ):
        state = run(
            algorithm, constrain_envs(state, env_sharding), until, callback, env_sharding, crossings
        )
        if crossings:
            send_run_end(state)
        return state


@eqx.filter_jit
def compiled_learn(
    algorithm, env, policy, total_timesteps, key, callback, env_sharding, token, crossings
):
    """`learn`'s program (`init` and `train` in one); `token`, `crossings` as for
    `compiled_train`."""
    with (
        host.run_token(token),
        host.member_scope(host.member_witness(algorithm, env, policy, key, callback)),
        host.crossing_order(),
    ):
        state = init_state(algorithm, env, policy, total_timesteps, key, callback)
        state = constrain_envs(state, env_sharding)
        state = run(algorithm, state, state.total_iterations, callback, env_sharding, crossings)
        if crossings:
            send_run_end(state)
        return state
