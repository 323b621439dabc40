"""The classic-control environments against Gymnasium's own implementations."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.env import Acrobot, CartPole, MountainCar, MountainCarContinuous, Pendulum
from lerax.env.classic_control import (
    AcrobotState,
    CartPoleState,
    MountainCarContinuousState,
    MountainCarState,
    PendulumState,
)


def _f32(values):
    return jnp.asarray(values, jnp.float32)


# env id -> (lerax env, Gymnasium's internal state array + step counter -> lerax state)
CASES = {
    "CartPole-v1": (
        CartPole(),
        lambda s, t: CartPoleState(
            x=_f32(s[..., 0]),
            x_dot=_f32(s[..., 1]),
            theta=_f32(s[..., 2]),
            theta_dot=_f32(s[..., 3]),
            time=t,
        ),
    ),
    "Acrobot-v1": (
        Acrobot(),
        lambda s, t: AcrobotState(
            theta1=_f32(s[..., 0]),
            theta2=_f32(s[..., 1]),
            dtheta1=_f32(s[..., 2]),
            dtheta2=_f32(s[..., 3]),
            time=t,
        ),
    ),
    "MountainCar-v0": (
        MountainCar(),
        lambda s, t: MountainCarState(position=_f32(s[..., 0]), velocity=_f32(s[..., 1]), time=t),
    ),
    "MountainCarContinuous-v0": (
        MountainCarContinuous(),
        lambda s, t: MountainCarContinuousState(
            position=_f32(s[..., 0]), velocity=_f32(s[..., 1]), time=t
        ),
    ),
    "Pendulum-v1": (
        Pendulum(),
        lambda s, t: PendulumState(
            theta=_f32(s[..., 0]),
            theta_dot=_f32(s[..., 1]),
            last_torque=jnp.zeros_like(_f32(s[..., 0])),
            time=t,
        ),
    ),
}
ENV_IDS = list(CASES)
# Independent float32 integration drifts from Gymnasium's float64 one where the
# dynamics amplify rounding: Acrobot is chaotic, and the randomly driven Pendulum
# keeps passing its unstable upright position (its error grows ~10x every 50
# steps, from 1e-7). The one-step tests hold every env to 1e-5 without drift.
TRAJECTORY_ATOL = {"Acrobot-v1": 1e-3, "Pendulum-v1": 5e-3}
# CartPole's balanced phase replays a closed-loop controller's actions open-loop
# on an unstable equilibrium, which diverges exponentially; compare the random phase.
TRAJECTORY_STEPS = {"CartPole-v1": 200}


@dataclasses.dataclass
class GymRollout:
    pre_states: np.ndarray  # (N, k) Gymnasium's internal state before each step
    times: np.ndarray  # (N,) steps taken in the episode before each step
    actions: np.ndarray  # (N,) or (N, 1)
    observations: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    reset_states: np.ndarray  # (R, k) the episode starts, in order


def _balancing_action(state: np.ndarray) -> int:
    """A crude CartPole controller that usually survives to the time limit."""
    x, x_dot, theta, theta_dot = state
    return int(theta + 0.3 * theta_dot + 0.02 * x + 0.1 * x_dot > 0)


def _gym_rollout(env_id: str, seed: int = 0) -> GymRollout:
    """Gymnasium (with its TimeLimit) under seeded actions, resetting whenever an episode ends."""
    env = gym.make(env_id)
    limit = env.spec.max_episode_steps
    # Long enough to reach the time limit; CartPole first acts randomly (many
    # terminations), then mostly balances (a truncation).
    num_steps = 200 + 2 * limit if env_id == "CartPole-v1" else max(300, limit + 50)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    record = {name: [] for name in ("pre", "time", "act", "obs", "rew", "term", "trunc")}
    resets = [np.array(env.unwrapped.state, np.float64)]
    time = 0
    for i in range(num_steps):
        if isinstance(env.action_space, gym.spaces.Discrete):
            action = int(rng.integers(env.action_space.n))
            if env_id == "CartPole-v1" and i >= 200 and rng.random() > 0.1:
                action = _balancing_action(env.unwrapped.state)
        else:  # beyond the bounds, to exercise clipping
            high = env.action_space.high
            action = rng.uniform(-1.5 * high, 1.5 * high).astype(np.float32)
        record["pre"].append(np.array(env.unwrapped.state, np.float64))
        record["time"].append(time)
        record["act"].append(action)
        observation, reward, terminated, truncated, _ = env.step(action)
        time += 1
        outcome = (observation, reward, terminated, truncated)
        for name, value in zip(("obs", "rew", "term", "trunc"), outcome, strict=True):
            record[name].append(value)
        if terminated or truncated:
            env.reset(seed=seed + 1 + i)
            resets.append(np.array(env.unwrapped.state, np.float64))
            time = 0
    return GymRollout(
        pre_states=np.stack(record["pre"]),
        times=np.array(record["time"], np.int32),
        actions=np.array(record["act"]),
        observations=np.stack(record["obs"]),
        rewards=np.array(record["rew"], np.float64),
        terminated=np.array(record["term"]),
        truncated=np.array(record["trunc"]),
        reset_states=np.stack(resets),
    )


@pytest.fixture(scope="module", params=ENV_IDS)
def rollout(request):
    return request.param, _gym_rollout(request.param)


def test_rollout_covers_both_episode_ends(rollout):
    env_id, data = rollout
    assert data.truncated.any(), "the rollout should reach Gymnasium's time limit"
    if env_id == "CartPole-v1":
        assert data.terminated.sum() > 5


def test_one_step_from_gymnasium_states_matches(rollout):
    """Every transition, started from Gymnasium's exact pre-step state (no drift)."""
    env_id, data = rollout
    env, to_state = CASES[env_id]
    states = to_state(data.pre_states, jnp.asarray(data.times))
    actions = jnp.asarray(data.actions)
    keys = jr.split(jr.key(0), len(actions))
    step = jax.jit(jax.vmap(lambda s, a, k: env.step(s, a, key=k)))
    _, observations, rewards, terminated, truncated, info = step(states, actions, keys)

    assert observations.dtype == jnp.float32 and rewards.dtype == jnp.float32
    assert terminated.dtype == jnp.bool_ and truncated.dtype == jnp.bool_
    assert info == {}
    np.testing.assert_allclose(observations, data.observations, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rewards, data.rewards, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(terminated, data.terminated)
    np.testing.assert_array_equal(truncated, data.truncated)


def test_independent_trajectory_matches(rollout):
    """Lerax integrates on its own (one jitted scan); both restart from common states."""
    env_id, data = rollout
    env, to_state = CASES[env_id]
    starts = to_state(data.reset_states, jnp.zeros(len(data.reset_states), jnp.int32))

    def body(carry, action):
        state, next_start = carry
        state, observation, reward, terminated, truncated, _ = env.step(
            state, action, key=jr.key(0)
        )
        done = terminated | truncated
        start = jax.tree.map(lambda leaf: leaf[next_start], starts)
        state = jax.tree.map(lambda a, b: jnp.where(done, a, b), start, state)
        return (state, next_start + done), (observation, reward, terminated, truncated)

    first = jax.tree.map(lambda leaf: leaf[0], starts)
    run = jax.jit(lambda actions: jax.lax.scan(body, (first, jnp.int32(1)), actions))
    n = TRAJECTORY_STEPS.get(env_id, len(data.actions))
    assert n >= 200
    (_, num_starts), (observations, rewards, terminated, truncated) = run(
        jnp.asarray(data.actions[:n])
    )

    np.testing.assert_array_equal(terminated, data.terminated[:n])
    np.testing.assert_array_equal(truncated, data.truncated[:n])
    num_episodes_ended = int(np.sum(data.terminated[:n] | data.truncated[:n]))
    assert int(num_starts) == 1 + num_episodes_ended
    atol = TRAJECTORY_ATOL.get(env_id, 1e-5)
    np.testing.assert_allclose(observations, data.observations[:n], rtol=1e-5, atol=atol)
    np.testing.assert_allclose(rewards, data.rewards[:n], rtol=1e-4, atol=atol)


EDGE_STATES = {  # near thresholds, walls, speed limits and angle wrapping
    "CartPole-v1": [[2.39, 1.0, 0.0, 0.0], [-2.39, -1.0, 0.0, 0.0], [0.0, 0.0, 0.2, 1.0]],
    "Acrobot-v1": [[np.pi, 0.0, 0.0, 0.0], [2.0, 0.5, 1.0, 1.0], [3.0, 3.1, 12.0, 28.0]],
    "MountainCar-v0": [[0.49, 0.01], [-1.19, -0.05], [0.55, 0.07], [-1.2, 0.0]],
    "MountainCarContinuous-v0": [[0.44, 0.02], [-1.19, -0.05], [0.6, 0.07]],
    "Pendulum-v1": [[0.0, 7.9], [np.pi, 0.0], [-10.0, -8.0], [100.0, 3.0]],
}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_edge_states_match_gymnasium(env_id):
    env, to_state = CASES[env_id]
    gym_env = gym.make(env_id).unwrapped
    if isinstance(gym_env.action_space, gym.spaces.Discrete):
        actions = list(range(gym_env.action_space.n))
    else:
        high = gym_env.action_space.high
        actions = [np.float32(scale) * high for scale in (-3.0, -0.5, 0.0, 0.7, 2.0)]
    # float32-representable inputs, so both start from exactly the same state
    states = [np.array(s, np.float32).astype(np.float64) for s in EDGE_STATES[env_id]]
    pairs = [(state, action) for state in states for action in actions]
    expected = []
    for state, action in pairs:
        gym_env.reset(seed=0)
        gym_env.state = state.copy()
        expected.append(gym_env.step(action)[:3])
    states = to_state(np.stack([s for s, _ in pairs]), jnp.zeros(len(pairs), jnp.int32))
    step = jax.vmap(lambda s, a: env.step(s, a, key=jr.key(0)))
    _, observations, rewards, terminated, _, _ = step(states, jnp.asarray([a for _, a in pairs]))
    expected_observations = np.stack([e[0] for e in expected])
    np.testing.assert_allclose(observations, expected_observations, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(rewards, [e[1] for e in expected], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(terminated, [e[2] for e in expected])
    if env_id != "Pendulum-v1":
        assert any(e[2] for e in expected), "an edge state should terminate"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_truncation_at_gymnasium_limit(env_id):
    env, to_state = CASES[env_id]
    limit = gym.spec(env_id).max_episode_steps
    assert env.max_episode_steps == limit
    gym_env = gym.make(env_id)
    gym_env.reset(seed=0)
    state = np.array(gym_env.unwrapped.state, np.float64)
    action = env.action_space.sample(key=jr.key(1))
    for steps_taken, expected in ((limit - 2, False), (limit - 1, True), (limit, True)):
        result = env.step(to_state(state, jnp.int32(steps_taken)), action, key=jr.key(2))
        assert bool(result[4]) is expected
        assert int(result[0].time) == steps_taken + 1


def test_terminated_and_truncated_together_like_time_limit():
    """Gymnasium's TimeLimit sets `truncated` regardless of `terminated`."""
    env, to_state = CASES["CartPole-v1"]
    gym_env = gym.make("CartPole-v1")
    gym_env.reset(seed=0)
    state = np.array([2.39, 1.0, 0.0, 0.0])  # crosses x_threshold on this step
    gym_env.unwrapped.state = state.copy()
    gym_env._elapsed_steps = 499  # noqa: SLF001 (TimeLimit's counter)
    _, _, gym_terminated, gym_truncated, _ = gym_env.step(1)
    _, _, _, terminated, truncated, _ = env.step(to_state(state, jnp.int32(499)), 1, key=jr.key(0))
    assert (gym_terminated, gym_truncated) == (True, True)
    assert (bool(terminated), bool(truncated)) == (True, True)
