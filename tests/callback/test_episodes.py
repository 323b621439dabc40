"""`record_episodes` and `episode_ema`: the driver's per-iteration episode statistics
against a plain step-by-step loop."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from lerax.callback import EpisodeProgress, EpisodeStatistics, episode_ema, record_episodes


def _loop(rewards, dones, running, length, ema, seen, alpha):
    """Step by step, per env: what ended where, and the EMA after each chunk."""
    steps, envs = rewards.shape
    returns = np.zeros((steps, envs))
    lengths = np.zeros((steps, envs), int)
    for t in range(steps):
        for e in range(envs):
            running[e] += rewards[t, e]
            length[e] += 1
            if dones[t, e]:
                returns[t, e], lengths[t, e] = running[e], length[e]
                ema[e] = running[e] if seen[e] == 0 else alpha * running[e] + (1 - alpha) * ema[e]
                seen[e] += 1
                running[e], length[e] = 0.0, 0
    return returns, lengths


@pytest.mark.parametrize("alpha", [0.9, 0.5, 1.0])
def test_statistics_and_ema_equal_a_step_by_step_loop_across_iterations(alpha):
    rng = np.random.default_rng(0)
    steps, envs = 37, 5
    running, length = np.zeros(envs), np.zeros(envs, int)
    ema, seen = np.full(envs, np.nan), np.zeros(envs, int)
    progress = EpisodeProgress.zeros(envs)
    average = jnp.full((envs,), jnp.nan)
    count = jnp.zeros((envs,), jnp.int32)
    for chunk in range(4):  # episodes carry over from one iteration to the next
        rewards = rng.normal(size=(steps, envs)).astype(np.float32)
        dones = rng.random((steps, envs)) < (0.02 if chunk == 0 else 0.15)
        dones[:, 0] = False if chunk < 2 else dones[:, 0]  # env 0: no episode at first
        returns, lengths = _loop(rewards, dones, running, length, ema, seen, alpha)
        stats, progress = record_episodes(progress, jnp.asarray(rewards), jnp.asarray(dones))
        np.testing.assert_allclose(stats.returns, returns, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(stats.lengths, lengths)
        np.testing.assert_array_equal(stats.count, dones.sum(0))
        np.testing.assert_allclose(stats.return_sum, returns.sum(0), rtol=1e-5, atol=1e-4)
        finished = np.where(dones, returns, np.nan)
        with np.errstate(all="ignore"):
            expect_min = np.where(
                dones.any(0), np.nanmin(np.where(dones, finished, np.inf), 0), np.inf
            )
        np.testing.assert_allclose(stats.return_min, expect_min, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(stats.length_sum, lengths.sum(0))
        np.testing.assert_allclose(progress.return_, running, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(progress.length, length)
        average = episode_ema(average, count, stats.done, stats.returns, alpha)
        count = count + stats.count
        np.testing.assert_allclose(average, ema, rtol=1e-5, atol=1e-4)
        assert np.isnan(np.asarray(average)[0]) == (seen[0] == 0)


def test_an_iteration_without_episodes():
    stats = EpisodeStatistics.empty(4, 3)
    assert stats.returns.shape == (4, 3) and int(stats.count.sum()) == 0
    assert np.all(np.isinf(stats.return_min)) and np.all(np.asarray(stats.return_min) > 0)
    np.testing.assert_array_equal(stats.running_length, [0, 0, 0])


def test_a_nan_reward_spoils_only_its_own_episode():
    reward = jnp.asarray([[1.0], [jnp.nan], [1.0], [2.0], [3.0]])
    done = jnp.asarray([[False], [True], [False], [True], [False]])
    stats, progress = record_episodes(EpisodeProgress.zeros(1), reward, done)
    assert np.isnan(stats.returns[1, 0]) and float(stats.returns[3, 0]) == 3.0
    assert float(progress.return_[0]) == 3.0 and int(progress.length[0]) == 1
