"""Generalised advantage estimation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float


def compute_gae(
    rewards: Float[Array, "num_steps num_envs"],
    values: Float[Array, "num_steps num_envs"],
    dones: Bool[Array, "num_steps num_envs"],
    last_value: Float[Array, " num_envs"],
    gamma: Float[Array, ""],
    gae_lambda: Float[Array, ""],
) -> tuple[Float[Array, "num_steps num_envs"], Float[Array, "num_steps num_envs"]]:
    """Advantages and returns by GAE(gamma, lambda).

    `dones[t]` marks that the episode ended at step t, so the value of the
    observation after step t (a fresh episode's first observation) is not
    bootstrapped. Time-limit truncations should already be folded into `rewards`
    (reward + gamma * V(final observation)).

    Args:
        rewards: Rewards per step and env.
        values: Critic values of the observations the actions were taken on.
        dones: Episode ended at this step (terminated or truncated).
        last_value: Critic value of the observation after the last step.
        gamma: Discount factor.
        gae_lambda: GAE smoothing factor.

    Returns:
        `(advantages, returns)` with `returns = advantages + values`.
    """
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    not_done = 1.0 - dones.astype(values.dtype)
    deltas = rewards + gamma * next_values * not_done - values

    def backward(carry, x):
        delta, nd = x
        carry = delta + gamma * gae_lambda * nd * carry
        return carry, carry

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(last_value), (deltas, not_done), reverse=True
    )
    return advantages, advantages + values


def explained_variance(
    values: Float[Array, "..."], returns: Float[Array, "..."]
) -> Float[Array, ""]:
    """`1 - Var(returns - values) / Var(returns)`: 1 for a perfect critic, 0 for one
    no better than a constant; NaN when the returns do not vary."""
    var_returns = jnp.var(returns)
    return jnp.where(var_returns == 0, jnp.nan, 1.0 - jnp.var(returns - values) / var_returns)
