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

ENV_AXIS = "envs"
"""The `vmap` axis name of a batch of training envs: `AutoReset.step_batch` and the
algorithms' reset of their `num_envs` envs map over it. A wrapper built with
`axis_name=ENV_AXIS` (`NormalizeObservation`, `NormalizeReward`) pools its statistics
across the training envs, as Stable-Baselines3's `VecNormalize` does."""


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
    (no `lax.cond`), which vectorises well under `vmap`. `step_batch` steps a whole
    batch of envs with the same results and resets only when some episode ended (the
    training loops use it).

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
        info = {**info, "final_observation": observation}
        env_state, observation = self._reset_finished(
            env_state, observation, terminated | truncated, key
        )
        return WrapperState(env_state), observation, reward, terminated, truncated, info

    def _reset_finished(self, env_state, observation, done, key):
        """The state and observation of a new episode where `done`, else unchanged
        (ONE env; the reset is computed either way and selected)."""
        reset_state, reset_observation = reset_episode(
            self.env, env_state, key=jr.fold_in(key, _RESET_STREAM)
        )
        env_state = jax.tree.map(
            lambda fresh, old: jnp.where(done, fresh, old), reset_state, env_state
        )
        return env_state, jnp.where(done, reset_observation, observation)

    def step_batch(
        self, states: WrapperState, actions: Array, *, keys: Key[Array, " batch"]
    ) -> tuple[
        WrapperState,
        Array,
        Float[Array, " batch"],
        Bool[Array, " batch"],
        Bool[Array, " batch"],
        dict[str, Any],
    ]:
        """`jax.vmap(step)` over a leading batch axis, bitwise, but with the resets
        computed only on steps where some episode of the batch ended. The batch axis
        is named `ENV_AXIS`, so inner wrappers may pool statistics over it.

        `step` computes a reset at every step (two key derivations and the env's reset
        per env) and selects it where an episode ended. Most steps end no episode, and
        on the CPU each of those small operations costs a kernel launch, so here the
        batch's resets run inside ONE `lax.cond` on "any episode ended". Under an
        outer `vmap` (over seeds) that `cond` becomes a select and both branches run,
        which is what `step` does anyway.

        Args:
            states: `AutoReset` states with a leading batch axis.
            actions: One action per batch member.
            keys: One step key per batch member (the same keys `step` would get).

        Returns:
            What `jax.vmap(step)` returns.
        """
        env_states, observations, rewards, terminated, truncated, info = jax.vmap(
            lambda s, a, k: self.env.step(s, a, key=k), axis_name=ENV_AXIS
        )(states.env_state, actions, keys)
        done = terminated | truncated

        def with_resets(operands):
            return jax.vmap(self._reset_finished, axis_name=ENV_AXIS)(*operands, done, keys)

        info = {**info, "final_observation": observations}
        env_states, observations = jax.lax.cond(
            jnp.any(done), with_resets, lambda operands: operands, (env_states, observations)
        )
        return WrapperState(env_states), observations, rewards, terminated, truncated, info
