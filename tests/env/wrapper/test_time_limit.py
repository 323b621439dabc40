import jax.numpy as jnp
import numpy as np
import pytest
from _wrapper_rollout import rollout

from lerax.env import CartPole, Pendulum
from lerax.env.wrapper import AutoReset, TimeLimit, TimeLimitState


def test_truncates_at_max_steps(getkey):
    # Pendulum never terminates and its own limit (200) is far away.
    env = TimeLimit(Pendulum(), 7)
    _, final_state, (_, _, terminated, truncated, _) = rollout(env, getkey(), 12)
    assert isinstance(final_state, TimeLimitState)
    assert int(final_state.elapsed_steps) == 12
    assert not np.any(terminated)
    np.testing.assert_array_equal(truncated, np.arange(1, 13) >= 7)


def test_with_auto_reset_episodes_have_fixed_length(getkey):
    env = AutoReset(TimeLimit(Pendulum(), 5))
    _, final_state, (_, _, _, truncated, _) = rollout(env, getkey(), 23)
    np.testing.assert_array_equal(np.flatnonzero(truncated) + 1, [5, 10, 15, 20])
    assert int(final_state.env_state.elapsed_steps) == 3


def test_keeps_inner_truncation_and_termination(getkey):
    # CartPole's own limit (3 steps here) truncates before the wrapper's.
    env = TimeLimit(CartPole(max_episode_steps=3), 100)
    _, _, (_, _, _, truncated, _) = rollout(env, getkey(), 4)
    np.testing.assert_array_equal(truncated, [False, False, True, True])


def test_elapsed_steps_restart_on_reset(getkey):
    env = TimeLimit(Pendulum(), 3)
    state, _ = env.reset(key=getkey())
    assert state.elapsed_steps.dtype == jnp.int32 and int(state.elapsed_steps) == 0


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, None])
def test_bad_max_episode_steps_raises(bad):
    with pytest.raises(ValueError, match="`max_episode_steps`"):
        TimeLimit(Pendulum(), bad)
