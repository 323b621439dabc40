"""GymnasiumEnv: host-side stepping, auto-reset accounting, num_envs, PPO."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from lerax.algorithm import PPO  # noqa: E402
from lerax.env import GymnasiumEnv  # noqa: E402
from lerax.env.wrapper import AutoReset  # noqa: E402
from lerax.policy import MLPActorCriticPolicy  # noqa: E402
from lerax.space import Box, Discrete  # noqa: E402


class Recorder(gym.Wrapper):
    """Logs every reset and step of one Gymnasium env, as the host really saw them."""

    def __init__(self, env, logs):
        super().__init__(env)
        self.log = []
        logs.append(self.log)

    def reset(self, **kwargs):
        observation, info = super().reset(**kwargs)
        self.log.append(("reset", np.array(observation), kwargs.get("seed")))
        return observation, info

    def step(self, action):
        observation, reward, terminated, truncated, info = super().step(action)
        self.log.append(("step", np.array(observation), bool(terminated or truncated)))
        return observation, reward, terminated, truncated, info


def recorded_cartpole():
    logs: list[list] = []
    env = GymnasiumEnv(lambda: Recorder(gym.make("CartPole-v1"), logs))
    return env, logs


def test_spaces_name_and_limit():
    env = GymnasiumEnv("CartPole-v1")
    reference = gym.make("CartPole-v1")
    assert env.action_space == Discrete(2)
    assert env.observation_space == Box(
        reference.observation_space.low, reference.observation_space.high
    )
    assert env.name == "CartPole-v1" and env.max_episode_steps == 500
    pendulum = GymnasiumEnv("Pendulum-v1")
    assert pendulum.action_space == Box(-2.0, 2.0, shape=(1,))
    env.close()
    pendulum.close()


def test_reset_is_seeded_from_the_key(getkey):
    env, logs = recorded_cartpole()
    reset = jax.jit(lambda k: env.reset(key=k))
    key = getkey()
    _, first = reset(key)
    _, again = reset(key)
    _, other = reset(getkey())
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # What the program got is what Gymnasium returned for the seed it was given.
    (log,) = logs
    seed = log[0][2]
    np.testing.assert_array_equal(first, gym.make("CartPole-v1").reset(seed=seed)[0])
    env.close()


def _rollout(wrapped, key, actions):
    def body(state, xs):
        action, k = xs
        state, obs, reward, terminated, truncated, info = wrapped.step(state, action, key=k)
        return state, (obs, info["final_observation"], terminated | truncated, reward)

    state, _ = wrapped.reset(key=key)
    keys = jr.split(jr.fold_in(key, 1), actions.shape[0])
    return jax.lax.scan(body, state, (actions, keys))[1]


def test_auto_reset_makes_one_gymnasium_reset_per_episode(getkey):
    env, logs = recorded_cartpole()
    actions = jnp.ones(120, jnp.int32)  # always push right: episodes of about 10 steps
    obs, final_obs, done, reward = jax.jit(_rollout, static_argnums=0)(
        AutoReset(env), getkey(), actions
    )
    (log,) = logs
    done = np.asarray(done)
    steps = [entry for entry in log if entry[0] == "step"]
    resets = [entry for entry in log if entry[0] == "reset"]
    assert done.sum() >= 8
    assert len(steps) == 120
    assert len(resets) == 1 + done.sum()  # the initial reset + one per finished episode
    # final_observation is the true last observation of every step ...
    np.testing.assert_array_equal(final_obs, np.stack([s[1] for s in steps]))
    np.testing.assert_array_equal(done, [s[2] for s in steps])
    # ... and the returned observation is the new episode's first one after a done.
    np.testing.assert_array_equal(obs[done], np.stack([r[1] for r in resets[1:]]))
    np.testing.assert_array_equal(obs[~done], final_obs[~done])
    np.testing.assert_array_equal(reward, 1.0)
    env.close()


def test_one_gymnasium_env_per_lerax_env_under_vmap(getkey):
    env, logs = recorded_cartpole()
    actions = jnp.ones((60, 3), jnp.int32)
    keys = jr.split(getkey(), 3)
    obs, final_obs, done, _ = jax.jit(
        jax.vmap(lambda k, a: _rollout(AutoReset(env), k, a), in_axes=(0, 1))
    )(keys, actions)
    assert sorted(env.host.envs) == [(0,), (1,), (2,)]
    assert len(logs) == 3  # the probe env serves env 0; two more were made
    for i in range(3):
        log = logs[[id(r) for r in logs].index(id(env.host.envs[(i,)].log))]
        steps = [entry for entry in log if entry[0] == "step"]
        resets = [entry for entry in log if entry[0] == "reset"]
        np.testing.assert_array_equal(final_obs[i], np.stack([s[1] for s in steps]))
        assert len(resets) == 1 + int(np.asarray(done[i]).sum())
    assert not np.array_equal(obs[0], obs[1])  # each env has its own seed
    env.close()


def test_ppo_counts_one_reset_per_finished_episode():
    resets = []

    class CountResets(gym.Wrapper):
        def reset(self, **kwargs):
            resets.append(kwargs.get("seed"))
            return super().reset(**kwargs)

    env = GymnasiumEnv(lambda: CountResets(gym.make("CartPole-v1")))
    algo = PPO(num_envs=4, num_steps=32, num_epochs=2, num_minibatches=2)
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    state = algo.init(env, policy, 4 * 32 * 3, key=jr.key(1))
    state = algo.train(state)
    assert int(state.iteration) == 3 and int(state.num_timesteps) == 384
    episodes = int(state.num_episodes)
    assert episodes >= 10  # an untrained policy drops the pole in ~20 steps
    assert len(resets) == 4 + episodes  # 4 initial resets, then one per finished episode
    assert env.host.resets == len(resets) and env.host.steps == 384
    assert len(set(resets)) == len(resets)  # every episode seeded differently
    changed = jax.tree.map(
        lambda a, b: not np.array_equal(a, b),
        eqx.filter(policy, eqx.is_array),
        eqx.filter(state.policy, eqx.is_array),
    )
    assert any(jax.tree.leaves(changed))
    env.close()


def test_vmap_over_runs_is_refused():
    env = GymnasiumEnv("CartPole-v1")
    algo = PPO(num_envs=2, num_steps=8, num_epochs=1, num_minibatches=1)
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    with pytest.raises(ValueError, match="exactly one vmapped axis"):
        jax.vmap(lambda k: algo.learn(env, policy, 16, key=k))(jr.split(jr.key(0), 2))
    with pytest.raises(ValueError, match="exactly one vmapped axis"):
        jax.vmap(jax.vmap(lambda k: env.reset(key=k)))(jr.split(jr.key(0), (2, 2)))
    env.close()


def test_render_and_bad_arguments(getkey):
    env = GymnasiumEnv("CartPole-v1")
    state, _ = env.reset(key=getkey())
    with pytest.raises(NotImplementedError, match="host"):
        env.render(state)
    with pytest.raises(TypeError, match="Gymnasium id"):
        GymnasiumEnv(3)
    with pytest.raises(TypeError, match="only accepted with an environment id"):
        GymnasiumEnv(lambda: gym.make("CartPole-v1"), render_mode="rgb_array")
    with pytest.raises(TypeError, match="Dict is not supported"):
        GymnasiumEnv(
            lambda: gym.wrappers.TransformObservation(
                gym.make("CartPole-v1"),
                lambda o: {"o": o},
                gym.spaces.Dict({"o": gym.make("CartPole-v1").observation_space}),
            )
        )
    env.close()
    with pytest.raises(RuntimeError, match="closed"):
        env.reset(key=getkey())


def test_host_errors_surface(getkey):
    class Broken(gym.Wrapper):
        def step(self, action):
            raise OSError("simulator crashed")

    env = GymnasiumEnv(lambda: Broken(gym.make("CartPole-v1")))
    state, _ = env.reset(key=getkey())
    with pytest.raises(Exception, match="simulator crashed"):
        out = env.step(state, jnp.int32(0), key=getkey())
        jax.block_until_ready(out)
    env.close()
