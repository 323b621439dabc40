"""The classic-control environments under jit and vmap, and their parameters."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.env import (
    Acrobot,
    CartPole,
    MountainCar,
    MountainCarContinuous,
    Pendulum,
)
from lerax.space import Box

# env factory, (parameter name, changed value)
ENVS = {
    "CartPole-v1": (CartPole, ("gravity", 20.0)),
    "Acrobot-v1": (Acrobot, ("gravity", 3.0)),
    "MountainCar-v0": (MountainCar, ("gravity", 0.005)),
    "MountainCarContinuous-v0": (MountainCarContinuous, ("power", 0.01)),
    "Pendulum-v1": (Pendulum, ("g", 3.0)),
}
ENV_IDS = list(ENVS)


def _actions(env, num_steps: int, seed: int = 0) -> np.ndarray:
    """Seeded random actions (drawn outside the compiled programs, to keep them small)."""
    rng = np.random.default_rng(seed)
    space = env.action_space
    if isinstance(space, Box):
        high = np.asarray(space.high)
        return rng.uniform(-high, high, (num_steps, *space.shape)).astype(np.float32)
    return rng.integers(0, space.n, num_steps).astype(np.int32)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vmapped_rollouts_equal_per_key_rollouts(env_id, getkey):
    env = ENVS[env_id][0]()
    actions = jnp.asarray(_actions(env, 8))

    def rollout(key):
        state, first = env.reset(key=key)

        def body(state, action):
            state, *outputs, _ = env.step(state, action, key=key)
            return state, outputs

        return first, jax.lax.scan(body, state, actions)[1]

    @jax.jit
    def both(keys):  # one compilation: batched, and one key after another
        return jax.vmap(rollout)(keys), jax.lax.map(rollout, keys)

    batched, looped = both(jr.split(getkey(), 3))
    for got, expected in zip(jax.tree.leaves(batched), jax.tree.leaves(looped), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    first_observations = batched[0]
    assert not np.allclose(first_observations[0], first_observations[1])  # keys matter


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_changing_a_parameter_changes_dynamics_without_retracing(env_id, getkey):
    factory, (name, value) = ENVS[env_id]
    env = factory()
    changed = factory(**{name: value})
    assert getattr(changed, name).dtype == jnp.float32
    assert jax.tree.structure(env) == jax.tree.structure(changed)

    @jax.jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def step(env, state, action, key):
        return env.step(state, action, key=key)

    state, observation = env.reset(key=getkey())
    assert observation.dtype == jnp.float32 and observation.shape == env.observation_space.shape
    assert state.time.dtype == jnp.int32 and int(state.time) == 0
    action = jnp.asarray(_actions(env, 1, seed=1)[0])
    key = getkey()
    new_state, observation, reward, terminated, truncated, info = step(env, state, action, key)
    changed_observation = step(changed, state, action, key)[1]  # would raise if retraced
    assert np.max(np.abs(observation - changed_observation)) > 1e-4

    assert observation.dtype == jnp.float32 and observation.shape == env.observation_space.shape
    assert reward.dtype == jnp.float32 and reward.shape == ()
    assert terminated.dtype == jnp.bool_ and terminated.shape == ()
    assert truncated.dtype == jnp.bool_ and truncated.shape == ()
    assert info == {}
    assert int(new_state.time) == 1


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_spaces_work_with_a_traced_env(env_id, getkey):
    env = ENVS[env_id][0]()

    @jax.jit
    def sample(env, key):
        return env.action_space.sample(key=key), env.observation_space.high

    action, high = sample(env, getkey())
    assert bool(env.action_space.contains(action))
    np.testing.assert_array_equal(high, env.observation_space.high)


def test_continuous_action_space_follows_its_parameter():
    space = Pendulum(max_torque=0.5).action_space
    assert space == Box(np.array([-0.5], np.float32), np.array([0.5], np.float32))


def test_cartpole_observation_is_state_and_push_direction(getkey):
    env = CartPole()
    state, observation = env.reset(key=getkey())
    np.testing.assert_array_equal(
        observation, jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot])
    )
    pushed_right = env.step(state, jnp.int32(1), key=getkey())[0]
    pushed_left = env.step(state, jnp.int32(0), key=getkey())[0]
    assert float(pushed_right.x_dot) > float(state.x_dot) > float(pushed_left.x_dot)


@pytest.mark.parametrize("action", [-5.0, 5.0])
def test_continuous_actions_are_clipped(action, getkey):
    env = Pendulum()
    state, _ = env.reset(key=getkey())
    clipped = env.step(state, jnp.array([np.sign(action) * 2.0]), key=getkey())
    raw = env.step(state, jnp.array([action]), key=getkey())
    np.testing.assert_array_equal(raw[1], clipped[1])
    assert float(raw[0].last_torque) == np.sign(action) * 2.0


@pytest.mark.parametrize(
    "factory", [CartPole, Acrobot, MountainCar, MountainCarContinuous, Pendulum]
)
@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_episode_limit_is_rejected(factory, bad):
    with pytest.raises(ValueError, match="max_episode_steps"):
        factory(max_episode_steps=bad)


def test_custom_episode_limit_truncates(getkey):
    env = MountainCar(max_episode_steps=3)
    state, _ = env.reset(key=getkey())
    flags = []
    for _ in range(3):
        state, _, _, _, truncated, _ = env.step(state, jnp.int32(1), key=getkey())
        flags.append(bool(truncated))
    assert flags == [False, False, True]


def test_parameters_can_be_swept_with_vmap(getkey):
    state, _ = CartPole().reset(key=getkey())
    gravities = jnp.array([1.0, 9.8, 30.0])

    def theta_dot_after_step(gravity):
        env = CartPole(gravity=gravity)
        return env.step(state, jnp.int32(1), key=getkey())[0].theta_dot

    swept = jax.jit(jax.vmap(theta_dot_after_step))(gravities)
    for i, gravity in enumerate(gravities):
        np.testing.assert_allclose(swept[i], theta_dot_after_step(gravity), rtol=1e-6)
    assert len(set(np.asarray(swept).tolist())) == 3
