"""Training behind NormalizeReward: the algorithm learns from the scaled reward, while
episode returns (what callbacks log and stop on) and `on_step` stay in the task's units."""

from __future__ import annotations

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.algorithm import DQN, PPO
from lerax.callback import AbstractCallbackStepState, AbstractStepCallback
from lerax.env import CartPole
from lerax.env.wrapper import NormalizeObservation, NormalizeReward
from lerax.policy import MLPActorCriticPolicy, MLPQPolicy


class RewardSum(AbstractCallbackStepState):
    total: jnp.ndarray


class StepRewardSum(AbstractStepCallback[RewardSum]):
    """Sums the reward `on_step` sees, per env."""

    def step_reset(self, ctx, *, key):
        return RewardSum(jnp.zeros(()))

    def on_step(self, ctx, *, key):
        return RewardSum(ctx.state.total + ctx.reward)


CASES = {
    "ppo": (PPO(num_envs=2, num_steps=64, num_epochs=1, num_minibatches=1), MLPActorCriticPolicy),
    "dqn": (DQN(num_envs=2, train_freq=64, learning_starts=0), MLPQPolicy),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_episode_returns_and_on_step_rewards_are_raw(name):
    algo, policy_cls = CASES[name]
    env = NormalizeObservation(NormalizeReward(CartPole(), gamma=0.9))
    policy = policy_cls(env=env, key=jr.key(0))
    callback = StepRewardSum()
    state = algo.init(env, policy, 128 * 3, key=jr.key(1), callback=callback)
    state = algo.train(state, callback=callback)
    episodes = state.episodes
    done = np.asarray(episodes.done)
    assert done.sum() >= 2
    # CartPole pays 1 per step: a raw return is the episode's length. The scaled
    # reward (1 / std of the discounted return) would give other numbers.
    np.testing.assert_allclose(
        np.asarray(episodes.returns)[done], np.asarray(episodes.lengths)[done]
    )
    assert float(jnp.sum(episodes.running_return)) == float(jnp.sum(episodes.running_length))
    # on_step saw one raw reward (1.0) per env step.
    np.testing.assert_allclose(
        np.asarray(state.callback_step_state.step_states[0].total), 128 * 3 / 2
    )


@pytest.mark.parametrize("pooled", [True, False])
def test_statistics_pool_over_the_training_envs_with_env_axis(pooled):
    """With `axis_name=ENV_AXIS` every training env holds the statistics of all envs'
    observations and returns (as VecNormalize); without, each env has its own."""
    from lerax.algorithm import A2C
    from lerax.env import Pendulum
    from lerax.env.wrapper import ENV_AXIS

    axis = ENV_AXIS if pooled else None
    reward = NormalizeReward(Pendulum(), gamma=0.9, axis_name=axis)
    env = NormalizeObservation(reward, axis_name=axis)
    algo = A2C(num_envs=4, num_steps=8)
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    state = algo.train(algo.init(env, policy, 4 * 8 * 3, key=jr.key(1)))
    observation_stats = state.env_state.env_state.statistics
    return_stats = state.env_state.env_state.env_state.statistics
    steps = 8 * 3
    for stats in (observation_stats, return_stats):
        count, mean = np.asarray(stats.count), np.asarray(stats.mean)
        assert count.shape == (4,)
        if pooled:  # all 4 envs' values: one reset observation each, then 4 per step
            merged = 4 * (steps + 1) if stats is observation_stats else 4 * steps
            np.testing.assert_array_equal(count, merged)
            np.testing.assert_array_equal(mean, np.broadcast_to(mean[0], mean.shape))
        else:
            own = steps + 1 if stats is observation_stats else steps
            np.testing.assert_array_equal(count, own)
            assert len({float(m) for m in mean.reshape(4, -1)[:, -1]}) == 4
    # The deployable policy holds the statistics of all envs' observations, counted
    # once: the shared set when pooled, else the per-env sets merged.
    deployed = state.deployable_policy().statistics
    assert float(deployed.count) == 4 * (steps + 1)
    want = observation_stats.first() if pooled else observation_stats.pooled()
    np.testing.assert_array_equal(np.asarray(deployed.mean), np.asarray(want.mean))
    np.testing.assert_array_equal(np.asarray(deployed.var), np.asarray(want.var))
