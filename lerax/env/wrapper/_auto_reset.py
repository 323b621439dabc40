"""Start a new episode as soon as one ends."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, Key

from .._abstract import AbstractEnv
from ._abstract import AbstractSpacePreservingWrapper, WrapperState, reset_episode

_RESET_STREAM = 0x5E5E7  # folded into the step key to derive the reset key


class AutoReset(AbstractSpacePreservingWrapper[WrapperState]):
    """Reset the environment inside `step` when an episode ends.

    On a step where `terminated | truncated`:

    * the returned state and observation are those of a new episode, started by
      `reset_episode(env, state, key=jax.random.fold_in(key, 0x5E5E7))` (the
      step key itself is passed to the inner `step` unchanged). For a bare env
      that is `env.reset`; inner wrappers keep their cross-episode state (e.g.
      normalisation statistics), so `AutoReset` may sit outside them;
    * `reward`, `terminated`, `truncated` and the inner `info` are those of the
      finished step.

    On every step, `info["final_observation"]` holds the observation the inner
    env returned for this step (the true last observation of an episode that
    just ended; otherwise equal to the returned observation), so a learner can
    bootstrap on truncation. The info pytree has the same structure on every
    step, and the reset is computed every step and selected with `jnp.where`
    (no `lax.cond`), which vectorises well under `vmap`.

    Args:
        env: The environment to wrap.
    """

    env: AbstractEnv

    def reset(self, *, key: Key[Array, ""]) -> tuple[WrapperState, Array]:
        env_state, observation = self.env.reset(key=key)
        return WrapperState(env_state), observation

    def reset_episode(
        self, state: WrapperState, *, key: Key[Array, ""]
    ) -> tuple[WrapperState, Array]:
        env_state, observation = reset_episode(self.env, state.env_state, key=key)
        return WrapperState(env_state), observation

    def step(
        self, state: WrapperState, action: Array, *, key: Key[Array, ""]
    ) -> tuple[
        WrapperState, Array, Float[Array, ""], Bool[Array, ""], Bool[Array, ""], dict[str, Any]
    ]:
        env_state, observation, reward, terminated, truncated, info = self.env.step(
            state.env_state, action, key=key
        )
        reset_state, reset_observation = reset_episode(
            self.env, env_state, key=jr.fold_in(key, _RESET_STREAM)
        )
        done = terminated | truncated
        env_state = jax.tree.map(
            lambda fresh, old: jnp.where(done, fresh, old), reset_state, env_state
        )
        info = {**info, "final_observation": observation}
        observation = jnp.where(done, reset_observation, observation)
        return WrapperState(env_state), observation, reward, terminated, truncated, info
