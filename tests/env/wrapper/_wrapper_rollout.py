"""Shared helpers for the wrapper tests."""

import equinox as eqx
import jax
import jax.random as jr


def action_keys(key, num_steps):
    """Per-step `(action_key, step_key)` pairs."""
    keys = jr.split(key, (num_steps, 2))
    return keys[:, 0], keys[:, 1]


@eqx.filter_jit
def rollout(env, key, num_steps):
    """Reset, then take `num_steps` uniformly random actions.

    Returns `(first_observation, final_state, transitions)` with transitions
    `(observation, reward, terminated, truncated, info)` stacked over steps.
    """
    reset_key, run_key = jr.split(key)
    state, observation = env.reset(key=reset_key)
    act_keys, step_keys = action_keys(run_key, num_steps)

    def body(state, keys):
        act_key, step_key = keys
        action = env.action_space.sample(key=act_key)
        state, obs, reward, terminated, truncated, info = env.step(state, action, key=step_key)
        return state, (obs, reward, terminated, truncated, info)

    final_state, transitions = jax.lax.scan(body, state, (act_keys, step_keys))
    return observation, final_state, transitions


@eqx.filter_jit
def vmapped_rollout(env, keys, num_steps, axis_name=None):
    """`rollout` for each key, under `jax.vmap(..., axis_name=axis_name)`.

    Module-level and jitted, so tests that roll out the same env structure share
    one compilation.
    """
    return jax.vmap(lambda k: rollout(env, k, num_steps), axis_name=axis_name)(keys)
