import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _wrapper_rollout import rollout, vmapped_rollout

from lerax.env import CartPole, Pendulum
from lerax.env.wrapper import AutoReset, EpisodeStatistics, EpisodeStatisticsState, TimeLimit


def _expected(rewards, dones):
    """Independent numpy bookkeeping of finished episodes' returns and lengths."""
    returns, lengths = np.zeros(len(rewards)), np.zeros(len(rewards), np.int64)
    running, length, last_return, last_length = 0.0, 0, 0.0, 0
    for t, (reward, done) in enumerate(zip(rewards, dones, strict=True)):
        running += float(reward)
        length += 1
        if done:
            last_return, last_length = running, length
            running, length = 0.0, 0
        returns[t], lengths[t] = last_return, last_length
    return returns, lengths


@pytest.mark.parametrize("inner", [TimeLimit(Pendulum(), 13), TimeLimit(CartPole(), 40)])
def test_returns_and_lengths_match_numpy(inner, getkey):
    env = EpisodeStatistics(AutoReset(inner))
    _, final_state, (_, reward, terminated, truncated, info) = rollout(env, getkey(), 150)
    assert isinstance(final_state, EpisodeStatisticsState)
    done = np.asarray(terminated | truncated)
    assert done.sum() >= 3
    np.testing.assert_array_equal(info["episode_done"], done)
    returns, lengths = _expected(np.asarray(reward, np.float64), done)
    np.testing.assert_allclose(info["episode_return"], returns, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(info["episode_length"], lengths)
    assert info["episode_return"].dtype == jnp.float32
    assert info["episode_length"].dtype == jnp.int32
    # Sum of rewards over the finished episodes equals the sum of recorded returns.
    last_done = np.flatnonzero(done)[-1]
    recorded = np.asarray(info["episode_return"])[done].sum()
    assert recorded == pytest.approx(float(np.asarray(reward)[: last_done + 1].sum()), rel=1e-5)
    # The running episode's counters.
    assert int(final_state.episode_length) == 149 - last_done
    assert float(final_state.episode_return) == pytest.approx(
        float(np.asarray(reward)[last_done + 1 :].sum()), rel=1e-5, abs=1e-4
    )


def test_vmapped_inside_or_outside_auto_reset_agree(getkey):
    inner = TimeLimit(Pendulum(), 9)
    keys = jax.random.split(getkey(), 3)
    _, _, (_, reward, _, _, outside) = vmapped_rollout(
        EpisodeStatistics(AutoReset(inner)), keys, 20
    )
    _, _, (_, _, _, _, inside) = vmapped_rollout(AutoReset(EpisodeStatistics(inner)), keys, 20)
    for name in ("episode_return", "episode_length", "episode_done"):
        np.testing.assert_allclose(outside[name], inside[name], rtol=1e-6)
    # Before the first episode ends: zeros; then each env's first 9 rewards.
    np.testing.assert_array_equal(np.asarray(inside["episode_return"])[:, :8], 0.0)
    np.testing.assert_array_equal(np.asarray(inside["episode_length"])[:, :8], 0)
    expected = np.asarray(reward)[:, :9].sum(1)
    np.testing.assert_allclose(np.asarray(inside["episode_return"])[:, 8], expected, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(inside["episode_length"])[:, -1], [9, 9, 9])
