"""The policy a callback acts with outside the training envs (evaluation, videos).

A run trained behind `NormalizeObservation` has a policy that expects normalised
observations. To act in an env without that layer, a callback wraps the policy
with the training statistics of the moment (`lerax.policy.freeze_normalization`),
as Stable-Baselines3 syncs `VecNormalize` for its evaluations.
"""

from __future__ import annotations

from lerax.env import AbstractEnv
from lerax.env.wrapper import AutoReset, has_observation_normalization
from lerax.policy import AbstractPolicy, freeze_normalization

from ._context import IterationContext, TrainingContext


def acting_policy(
    ctx: IterationContext | TrainingContext, acting_env: AbstractEnv
) -> AbstractPolicy:
    """`ctx.policy`, made to act in `acting_env`.

    If the training env normalises observations and `acting_env` does not, the
    policy is wrapped with the training envs' pooled statistics (from
    `ctx.train_state`); otherwise it is `ctx.policy` itself.
    """
    train_state = getattr(ctx, "train_state", None)
    training_env = getattr(train_state, "env", None)
    if (
        training_env is None
        or not has_observation_normalization(training_env)
        or has_observation_normalization(acting_env)
    ):
        return ctx.policy
    return freeze_normalization(ctx.policy, AutoReset(training_env), train_state.env_state)
