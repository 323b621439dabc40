import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from _wrapper_rollout import action_keys, rollout

from lerax.env import CartPole
from lerax.env.wrapper import AutoReset, TimeLimit

RESET_STREAM = 0x5E5E7
NUM_STEPS = 200


def _reference(inner, key, num_steps):
    """Step the bare env by hand, resetting it on `done` with the documented key."""
    step = eqx.filter_jit(lambda s, a, k: inner.step(s, a, key=k))
    reset = eqx.filter_jit(lambda k: inner.reset(key=k))
    sample = eqx.filter_jit(lambda k: inner.action_space.sample(key=k))
    reset_key, run_key = jr.split(key)
    state, obs = reset(reset_key)
    act_keys, step_keys = action_keys(run_key, num_steps)
    stepped, returned, dones, resets = [], [], [], 0
    for act_key, step_key in zip(act_keys, step_keys, strict=True):
        state, obs, _, terminated, truncated, _ = step(state, sample(act_key), step_key)
        stepped.append(np.asarray(obs))
        done = bool(terminated | truncated)
        if done:
            state, obs = reset(jr.fold_in(step_key, RESET_STREAM))
            resets += 1
        returned.append(np.asarray(obs))
        dones.append(done)
    return np.stack(stepped), np.stack(returned), np.array(dones), resets


def test_matches_hand_stepped_bare_env(getkey):
    inner = TimeLimit(CartPole(), 30)
    key = getkey()
    _, final_state, (obs, _, terminated, truncated, info) = rollout(
        AutoReset(inner), key, NUM_STEPS
    )
    stepped, returned, dones, resets = _reference(inner, key, NUM_STEPS)
    done = np.asarray(terminated | truncated)
    np.testing.assert_array_equal(done, dones)
    np.testing.assert_allclose(info["final_observation"], stepped, atol=1e-6)
    np.testing.assert_allclose(obs, returned, atol=1e-6)
    # One reset per finished episode, and several episodes of both kinds happened.
    assert done.sum() == resets >= 7
    assert np.any(np.asarray(terminated)) and np.any(np.asarray(truncated))
    # Not done: final observation is the returned one; done: it is not.
    np.testing.assert_array_equal(
        np.asarray(info["final_observation"])[~done], np.asarray(obs)[~done]
    )
    assert np.all(np.any(np.asarray(info["final_observation"])[done] != np.asarray(obs)[done], -1))
    # Returned observations after a reset come from the reset distribution U(-0.05, 0.05).
    assert np.all(np.abs(np.asarray(obs)[done]) <= 0.05)
    assert int(final_state.env_state.elapsed_steps) <= 30


def test_reward_and_flags_are_those_of_the_finished_step(getkey):
    env = AutoReset(TimeLimit(CartPole(), 4))
    _, _, (_, reward, terminated, truncated, _) = rollout(env, getkey(), 8)
    np.testing.assert_array_equal(reward, np.ones(8))
    # Four steps cannot tip the pole over: only the time limit ends episodes.
    np.testing.assert_array_equal(truncated, [False, False, False, True] * 2)
    assert not np.any(terminated)


def test_info_structure_is_fixed_and_no_cond(getkey):
    env = AutoReset(TimeLimit(CartPole(), 1))
    state, _ = env.reset(key=getkey())
    step = eqx.filter_jit(lambda s, k: env.step(s, jnp.int32(0), key=k))
    state_done, *_, info_done = step(state, getkey())  # truncated at once
    state_next, *_, info_next = step(state_done, getkey())
    assert jax.tree.structure(info_done) == jax.tree.structure(info_next)
    assert jax.tree.structure(state_done) == jax.tree.structure(state)
    jaxpr = str(
        jax.make_jaxpr(lambda s, k: jax.vmap(lambda s, k: env.step(s, 0, key=k))(s, k))(
            jax.tree.map(lambda x: jnp.stack([x, x]), state), jr.split(getkey(), 2)
        )
    )
    assert "cond" not in jaxpr


def test_vmapped_envs_reset_independently(getkey):
    env = AutoReset(TimeLimit(CartPole(), 25))
    keys = jr.split(getkey(), 4)
    _, final_state, (_, _, terminated, truncated, _) = eqx.filter_vmap(
        lambda k: rollout(env, k, 60)
    )(keys)
    done = np.asarray(terminated | truncated)
    assert done.shape == (4, 60)
    assert len({tuple(row) for row in done}) > 1  # different episodes per env
    assert np.all(np.asarray(final_state.env_state.elapsed_steps) < 25)


def _batch_rollout(env, key, num_envs, num_steps, batched):
    """Random actions over a batch of envs, stepping with `step_batch` or vmap(step)."""
    reset_key, run_key = jr.split(key)
    state, obs = jax.vmap(lambda k: env.reset(key=k))(jr.split(reset_key, num_envs))
    act_keys, step_keys = jr.split(run_key, (2, num_steps, num_envs))

    def body(state, keys):
        act_key, step_key = keys
        actions = jax.vmap(lambda k: env.action_space.sample(key=k))(act_key)
        if batched:
            out = env.step_batch(state, actions, keys=step_key)
        else:
            out = jax.vmap(lambda s, a, k: env.step(s, a, key=k))(state, actions, step_key)
        return out[0], out[1:]

    return jax.lax.scan(body, state, (act_keys, step_keys))


def test_step_batch_is_bitwise_vmapped_step(getkey):
    # Steps with and without finished episodes, both kinds of ending, and steps where
    # only some envs of the batch end.
    env = AutoReset(TimeLimit(CartPole(), 30))
    key = getkey()
    batched = jax.jit(lambda k: _batch_rollout(env, k, 4, 150, True))(key)
    vmapped = jax.jit(lambda k: _batch_rollout(env, k, 4, 150, False))(key)
    for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(vmapped), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    _, (_, _, terminated, truncated, _) = batched
    done = np.asarray(terminated | truncated)
    assert np.any(np.asarray(terminated)) and np.any(np.asarray(truncated))
    assert 0 < done.any(axis=1).mean() < 1  # steps without any reset exist
    assert np.any(done.any(axis=1) & ~done.all(axis=1))  # partial batches too


def test_step_batch_resets_only_under_a_cond_and_works_under_vmap(getkey):
    env = AutoReset(TimeLimit(CartPole(), 20))
    state, _ = jax.vmap(lambda k: env.reset(key=k))(jr.split(getkey(), 3))
    jaxpr = str(
        jax.make_jaxpr(lambda s, k: env.step_batch(s, jnp.zeros(3, jnp.int32), keys=k))(
            state, jr.split(getkey(), 3)
        )
    )
    assert "cond" in jaxpr
    # Under an outer vmap (seeds) the cond becomes a select; results still match.
    keys = jr.split(getkey(), 2)
    outer = jax.jit(jax.vmap(lambda k: _batch_rollout(env, k, 3, 60, True)))(keys)
    inner = jax.jit(jax.vmap(lambda k: _batch_rollout(env, k, 3, 60, False)))(keys)
    for a, b in zip(jax.tree.leaves(outer), jax.tree.leaves(inner), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
