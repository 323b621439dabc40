"""BraxEnv on Brax's inverted pendulum: parity with Brax, spaces, vmap, sys, PPO."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

envs = pytest.importorskip("brax.envs")

from lerax.algorithm import PPO  # noqa: E402
from lerax.env import BraxEnv  # noqa: E402
from lerax.env.wrapper import AutoReset  # noqa: E402
from lerax.policy import MLPActorCriticPolicy  # noqa: E402
from lerax.space import Box  # noqa: E402

NAME = "inverted_pendulum"
BACKEND = "spring"  # the quickest Brax pipeline to compile on the CPU


@pytest.fixture(scope="module")
def env():
    return BraxEnv(NAME, backend=BACKEND, max_episode_steps=50)


def test_spaces_and_name(env):
    assert env.name == NAME
    assert env.observation_space == Box(-np.inf, np.inf, shape=(4,))
    assert env.action_space == Box(-1.0, 1.0, shape=(1,))
    assert env.max_episode_steps == 50
    assert env.sys is not None and env.sys.gravity.shape == (3,)


def test_steps_match_brax_and_terminate(env, getkey):
    raw = envs.get_environment(NAME, backend=BACKEND)
    key = getkey()
    actions = jnp.full((40, 1), 0.7)  # push one way until the pole falls

    def ours(key):
        state, obs = env.reset(key=key)

        def body(s, a):
            s, o, r, te, tr, _ = env.step(s, a, key=key)
            return s, (o, r, te, tr)

        return obs, jax.lax.scan(body, state, actions)[1]

    def theirs(key):
        state = raw.reset(jr.key_data(key))

        def body(s, a):
            s = raw.step(s, a)
            return s, (s.obs, s.reward, s.done)

        return state.obs, jax.lax.scan(body, state, actions)[1]

    obs, (o, r, te, tr) = jax.jit(ours)(key)
    raw_obs, (ro, rr, rd) = jax.jit(theirs)(key)
    np.testing.assert_array_equal(obs, raw_obs)
    done = np.asarray(rd) > 0
    first = int(np.argmax(done))
    assert done.any() and first > 0
    # Equal up to the step the pole falls (Brax keeps stepping a fallen pole too).
    np.testing.assert_allclose(o[: first + 1], ro[: first + 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r[: first + 1], rr[: first + 1])
    np.testing.assert_array_equal(np.asarray(te)[: first + 1], done[: first + 1])
    assert not np.asarray(tr).any()  # 40 steps < max_episode_steps


def test_auto_reset_truncation_and_vmap(env, getkey):
    wrapped = AutoReset(env)
    keys = jr.split(getkey(), 3)

    def run(key):
        state, _ = wrapped.reset(key=key)

        def body(s, k):
            s, o, r, te, tr, info = wrapped.step(s, jnp.zeros(1), key=k)
            return s, (te, tr, s.env_state.time)

        return jax.lax.scan(body, state, jr.split(key, 120))[1]

    terminated, truncated, time = jax.jit(jax.vmap(run))(keys)
    done = np.asarray(terminated | truncated)
    time = np.asarray(time)
    # After a done the episode restarts: the step counter is back to 0.
    assert done.any()
    np.testing.assert_array_equal(time[done], 0)
    assert time.max() <= 50
    np.testing.assert_array_equal(np.asarray(truncated), time == 0 & ~np.asarray(terminated))
    one = jax.jit(run)(keys[1])
    np.testing.assert_array_equal(one[0], terminated[1])


def test_sys_is_a_traced_parameter(env, getkey):
    def angles(env, key):
        state, _ = env.reset(key=key)

        def body(s, _):
            s, o, *_ = env.step(s, jnp.full((1,), 0.3), key=key)
            return s, o[1]  # pole angle

        return jax.lax.scan(body, state, None, length=25)[1]

    key = getkey()
    angles = eqx.filter_jit(eqx.debug.assert_max_traces(angles, max_traces=1))
    normal = np.abs(np.asarray(angles(env, key)))
    heavier = eqx.tree_at(lambda e: e.sys.gravity, env, 4 * env.sys.gravity)
    heavy = np.abs(np.asarray(angles(heavier, key)))
    # Under 4 g the pole passes 0.2 rad sooner; the new gravity did not recompile.
    assert (normal > 0.2).any() and (heavy > 0.2).any()
    assert np.argmax(heavy > 0.2) < np.argmax(normal > 0.2)


def test_bad_arguments():
    with pytest.raises(TypeError, match="Brax environment name"):
        BraxEnv(3)
    with pytest.raises(ValueError, match="max_episode_steps"):
        BraxEnv(NAME, backend=BACKEND, max_episode_steps=0)


@pytest.mark.slow  # about a minute on a loaded 2-core CPU, mostly compiling Brax
def test_ppo_runs_on_brax(env):
    algo = PPO(num_envs=2, num_steps=32, num_epochs=1, num_minibatches=2)
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    state = algo.init(env, policy, 2 * 32 * 2, key=jr.key(1))
    state = algo.train(state)
    assert int(state.num_timesteps) == 128
    assert int(state.num_episodes) >= 2  # 50-step limit, 64 steps per env
    actions = jax.vmap(lambda o: state.policy.predict(o, key=None))(state.observation)
    assert actions.shape == (2, 1) and bool(jnp.isfinite(actions).all())
    changed = jax.tree.map(
        lambda a, b: not np.array_equal(a, b),
        eqx.filter(policy, eqx.is_array),
        eqx.filter(state.policy, eqx.is_array),
    )
    assert any(jax.tree.leaves(changed))
