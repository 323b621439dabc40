"""The episodes of an iteration, computed once by the training loop for every callback.

Callbacks that report or act on episode returns (logging, early stopping, progress,
curricula) need the same numbers. Instead of each one updating its own per-env
statistics at every env step inside the rollout, the driver computes them once per
iteration, after the rollout, from its `(steps, num_envs)` reward and done arrays,
with a few vectorised operations (`record_episodes`), and passes them in
`IterationContext.episodes`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int


class EpisodeProgress(eqx.Module):
    """The episodes in progress, one per env, carried from iteration to iteration.

    Attributes:
        return_: Summed raw reward of each env's unfinished episode.
        length: Steps of each env's unfinished episode.
    """

    return_: Float[Array, " num_envs"]
    length: Int[Array, " num_envs"]

    @classmethod
    def zeros(cls, num_envs: int) -> EpisodeProgress:
        """No episode under way yet."""
        return cls(jnp.zeros((num_envs,)), jnp.zeros((num_envs,), jnp.int32))


class EpisodeStatistics(eqx.Module):
    """The episodes one iteration finished, per env (raw rewards, true done flags).

    Attributes:
        done: Whether an episode ended at each step of the iteration.
        returns: The return of the episode that ended at that step (0 elsewhere).
        lengths: Its length in steps (0 elsewhere).
        count: Episodes each env finished in the iteration.
        return_sum: Sum of their returns.
        return_min: Smallest of their returns (+inf for an env that finished none).
        return_max: Largest of their returns (-inf for an env that finished none).
        length_sum: Sum of their lengths.
        running_return: Return so far of each env's unfinished episode, after the
            iteration.
        running_length: Its length so far.
    """

    done: Bool[Array, "steps num_envs"]
    returns: Float[Array, "steps num_envs"]
    lengths: Int[Array, "steps num_envs"]
    count: Int[Array, " num_envs"]
    return_sum: Float[Array, " num_envs"]
    return_min: Float[Array, " num_envs"]
    return_max: Float[Array, " num_envs"]
    length_sum: Int[Array, " num_envs"]
    running_return: Float[Array, " num_envs"]
    running_length: Int[Array, " num_envs"]

    @classmethod
    def empty(cls, steps: int, num_envs: int) -> EpisodeStatistics:
        """The statistics before the first iteration: no episode finished or begun."""
        grid = jnp.zeros((steps, num_envs))
        zeros = jnp.zeros((num_envs,))
        counts = jnp.zeros((num_envs,), jnp.int32)
        return cls(
            done=grid.astype(bool),
            returns=grid,
            lengths=grid.astype(jnp.int32),
            count=counts,
            return_sum=zeros,
            return_min=jnp.full((num_envs,), jnp.inf),
            return_max=jnp.full((num_envs,), -jnp.inf),
            length_sum=counts,
            running_return=zeros,
            running_length=counts,
        )


def record_episodes(
    progress: EpisodeProgress,
    reward: Float[Array, "steps num_envs"],
    done: Bool[Array, "steps num_envs"],
) -> tuple[EpisodeStatistics, EpisodeProgress]:
    """The episodes finished in a rollout, from its rewards and done flags.

    Vectorised over steps: the returns are a sum over steps that restarts after every
    episode end (a segmented `associative_scan`), the first segment starting from the
    return carried in from the previous iteration.

    Args:
        progress: The unfinished episodes before the rollout.
        reward: Raw reward of every step of every env.
        done: Whether each step ended its episode (terminated or truncated).

    Returns:
        `(statistics, progress)`: this rollout's episodes and the unfinished ones after it.
    """
    steps = reward.shape[0]
    index = jnp.arange(steps, dtype=jnp.int32)[:, None]
    last_end = jax.lax.cummax(jnp.where(done, index, -1), axis=0)
    previous_end = jnp.concatenate([jnp.full_like(last_end[:1], -1), last_end[:-1]], axis=0)
    started_here = previous_end >= 0
    # A sum that restarts after every episode end (a segmented scan, log-depth): a NaN
    # reward spoils only its own episode, as when summing step by step.
    starts = jnp.concatenate([jnp.zeros_like(done[:1]), done[:-1]], axis=0)

    def combine(a, b):
        return jnp.where(b[1], b[0], a[0] + b[0]), a[1] | b[1]

    carried = reward.at[0].add(progress.return_)
    running, _ = jax.lax.associative_scan(combine, (carried, starts), axis=0)
    length = jnp.where(started_here, index - previous_end, progress.length + index + 1)
    returns = jnp.where(done, running, 0.0)
    lengths = jnp.where(done, length, 0)
    after = EpisodeProgress(
        return_=jnp.where(done[-1], 0.0, running[-1]),
        length=jnp.where(done[-1], 0, length[-1]).astype(jnp.int32),
    )
    stats = EpisodeStatistics(
        done=done,
        returns=returns,
        lengths=lengths.astype(jnp.int32),
        count=jnp.sum(done, axis=0, dtype=jnp.int32),
        return_sum=jnp.sum(returns, axis=0),
        return_min=jnp.min(jnp.where(done, running, jnp.inf), axis=0),
        return_max=jnp.max(jnp.where(done, running, -jnp.inf), axis=0),
        length_sum=jnp.sum(lengths, axis=0, dtype=jnp.int32),
        running_return=after.return_,
        running_length=after.length,
    )
    return stats, after


def episode_ema(
    previous: Float[Array, " num_envs"],
    seen: Int[Array, " num_envs"],
    done: Bool[Array, "steps num_envs"],
    values: Float[Array, "steps num_envs"],
    alpha: float,
) -> Float[Array, " num_envs"]:
    """Per env, the exponential moving average (weight `alpha` on the newest) over
    episodes, updated with this iteration's episodes in order, in closed form.

    An env's average starts AT its first episode's value (no bias towards 0).

    Args:
        previous: The averages before the iteration (any value where `seen` is 0).
        seen: Episodes each env finished before the iteration.
        done: Where this iteration's episodes ended.
        values: The value of each ended episode (its return or length) at its end.
        alpha: Weight on the newest episode, in (0, 1].

    Returns:
        The averages after the iteration (`previous` for envs that finished none).
    """
    order = jnp.cumsum(done, axis=0, dtype=jnp.int32)  # 1-based order of each episode
    count = order[-1]
    first = jnp.take_along_axis(values, jnp.argmax(done, axis=0)[None], axis=0)[0]
    start = jnp.where(seen > 0, previous, first)
    decay = jnp.asarray(1.0 - alpha, values.dtype)
    weights = jnp.where(done, alpha * decay ** (count - order).astype(values.dtype), 0.0)
    average = decay ** count.astype(values.dtype) * start + jnp.sum(weights * values, axis=0)
    return jnp.where(count > 0, average, previous)
