"""One vectorised environment step with auto-reset and the `on_step` hook.

Shared by every algorithm's collection loop so that callbacks see the same thing
whatever the algorithm: the raw reward, the true done flags and the true final
observation, once per env step.
"""

from __future__ import annotations

import equinox as eqx
import jax
from jaxtyping import Array, Bool, Float, Int, Key, PyTree

from lerax.callback import AbstractCallback, AbstractCallbackStepState, StepContext
from lerax.env import AbstractEnv, to_env_action
from lerax.env.wrapper import AutoReset
from lerax.policy import AbstractPolicy


class Transition(eqx.Module):
    """What one vectorised env step produced (leading axis `num_envs`).

    `reward` is what the algorithm learns from; `raw_reward` is the task's own
    reward, before any `NormalizeReward` scaled it (`info["raw_reward"]`), which
    episode returns and callbacks' `on_step` report. Without such a layer both
    are the same array.
    """

    observation: Array
    action: Array
    reward: Float[Array, " num_envs"]
    next_observation: Array
    terminated: Bool[Array, " num_envs"]
    truncated: Bool[Array, " num_envs"]
    raw_reward: Float[Array, " num_envs"]


def step_envs(
    env: AbstractEnv,
    env_state: PyTree,
    observation: Array,
    action: Array,
    policy: AbstractPolicy,
    callback: AbstractCallback,
    callback_step_state: AbstractCallbackStepState,
    iteration: Int[Array, ""],
    num_timesteps: Int[Array, ""],
    *,
    keys: Key[Array, " num_envs"],
    callback_keys: Key[Array, " num_envs"],
) -> tuple[PyTree, Array, Transition, AbstractCallbackStepState]:
    """Step every env once, auto-resetting finished episodes, and run `on_step`.

    Args:
        env: The (unwrapped) environment; auto-reset is applied here.
        env_state: `AutoReset` states, leading axis `num_envs`.
        observation: Current observations, leading axis `num_envs`.
        action: One action per env, as the policy produced it.
        policy: The acting policy (passed to callbacks).
        callback: The callback whose `on_step` runs for every env.
        callback_step_state: Its per-env states.
        iteration: Current iteration index.
        num_timesteps: Env steps taken before this step (over all envs).
        keys: One key per env for the transitions and resets.
        callback_keys: One key per env from the callbacks' stream for this step.
            Pre-split outside the collection loop: on the CPU the cost of a step is
            mostly per-operation overhead, so fewer key splits inside it matter.

    Returns:
        `(env_state, next_observation_after_reset, transition, callback_step_state)`.
    """
    wrapped = AutoReset(env)
    env_action = to_env_action(env, action)
    env_state, next_obs, reward, terminated, truncated, info = wrapped.step_batch(
        env_state, env_action, keys=keys
    )
    transition = Transition(
        observation=observation,
        action=action,
        reward=reward,
        next_observation=info["final_observation"],
        terminated=terminated,
        truncated=truncated,
        raw_reward=info.get("raw_reward", reward),
    )

    def on_step(step_state, t: Transition, k):
        ctx = StepContext(
            state=step_state,
            env=env,
            policy=policy,
            observation=t.observation,
            action=t.action,
            reward=t.raw_reward,
            next_observation=t.next_observation,
            terminated=t.terminated,
            truncated=t.truncated,
            done=t.terminated | t.truncated,
            iteration_count=iteration,
            num_timesteps=num_timesteps,
        )
        return callback.on_step(ctx, key=k)

    callback_step_state = jax.vmap(on_step)(callback_step_state, transition, callback_keys)
    return env_state, next_obs, transition, callback_step_state
