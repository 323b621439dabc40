"""`episode_limit`: the one way lerax reads an env's time limit."""

from __future__ import annotations

from ._abstract import AbstractEnv, AbstractTimeLimitedEnv
from .wrapper._abstract import AbstractWrapper

UNLIMITED_EPISODE_STEPS = 1000
"""How many steps evaluation and videos run on an env without a time limit."""


def episode_limit(env: AbstractEnv) -> int | None:
    """The env's time limit: the smallest `max_episode_steps` along `env` and the
    envs it wraps (`AbstractWrapper.env`, ...) that derive from
    `AbstractTimeLimitedEnv`, or None when none has one.

    Args:
        env: An environment, possibly wrapped.

    Returns:
        The number of steps after which an episode is truncated, or None.
    """
    limits = []
    while isinstance(env, AbstractEnv):
        if isinstance(env, AbstractTimeLimitedEnv) and env.max_episode_steps is not None:
            limits.append(int(env.max_episode_steps))
        env = env.env if isinstance(env, AbstractWrapper) else None
    return min(limits) if limits else None


def episode_steps(env: AbstractEnv) -> int:
    """How many steps to run one episode of `env` for: `episode_limit(env)`, or
    `UNLIMITED_EPISODE_STEPS` when it has none."""
    limit = episode_limit(env)
    return UNLIMITED_EPISODE_STEPS if limit is None else limit
