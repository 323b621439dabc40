"""A2C: learning on a fixed seed, the RMSprop step, vmap over seeds, no retrace, arguments."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from lerax.algorithm import A2C, Rollout, evaluate_policy, trainable
from lerax.algorithm._optim import rmsprop_with_clipping
from lerax.callback import (
    AbstractCallbackStepState,
    AbstractStatelessCallback,
    AbstractStepCallback,
)
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy, MLPQPolicy


class _Steps(AbstractCallbackStepState):
    steps: jax.Array


class CountSteps(AbstractStepCallback[_Steps]):
    def step_reset(self, ctx, *, key):
        return _Steps(jnp.zeros((), jnp.int32))

    def on_step(self, ctx, *, key):
        return _Steps(ctx.state.steps + 1)


def _evaluate(env, policy, key, n=20):
    returns, _ = jax.jit(lambda p, k: evaluate_policy(env, p, num_episodes=n, key=k))(policy, key)
    return np.asarray(returns)


def _leaves(policy):
    return [np.asarray(x) for x in jax.tree.leaves(trainable(policy))]


def test_a2c_solves_cartpole_within_200k_steps():
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    before = _evaluate(env, policy, jr.key(3)).mean()
    # Defaults (8 envs x 5 steps, RMSprop 7e-4). Verified: 500.0 on this seed; the
    # spread over keys 0..7 at 200k steps: 500, 500, 500, 500, 500, 141, 500, 500.
    policy = A2C().learn(env, policy, total_timesteps=200_000, key=jr.key(0))
    returns = _evaluate(env, policy, jr.key(3))
    assert before < 300
    assert returns.mean() >= 475, returns


def test_rmsprop_step_matches_pytorch_formula():
    """Clip to global norm, then g / (sqrt(v) + eps) with v = 0.99 v + 0.01 g^2 from 0."""
    optimizer = rmsprop_with_clipping(jnp.asarray(0.5), decay=0.99, eps=1e-5)
    params = {"w": jnp.zeros(3)}
    state = optimizer.init(params)
    v = np.zeros(3)
    for g in ([3.0, -4.0, 0.0], [0.1, 0.2, -0.2]):
        g = np.asarray(g)
        clipped = g * min(1.0, 0.5 / np.linalg.norm(g))
        v = 0.99 * v + 0.01 * clipped**2
        expected = clipped / (np.sqrt(v) + 1e-5)
        updates, state = optimizer.update({"w": jnp.asarray(g, jnp.float32)}, state, params)
        np.testing.assert_allclose(updates["w"], expected, rtol=1e-4, atol=1e-5)


def test_iterations_and_counters():
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo = A2C(num_envs=3, num_steps=4)
    state = algo.init(env, policy, 12 * 7 + 5, key=jr.key(1), callback=CountSteps())
    state = algo.train(state, callback=CountSteps())
    assert int(state.iteration) == 7
    assert int(state.num_timesteps) == 3 * 4 * 7
    np.testing.assert_array_equal(state.callback_step_state.step_states[0].steps, [28, 28, 28])
    moved = [
        np.abs(a - b).max() for a, b in zip(_leaves(state.policy), _leaves(policy), strict=True)
    ]
    assert max(moved) > 0


def test_update_is_one_clipped_rmsprop_step_on_the_a2c_loss():
    """`A2C.update` against the loss, clipping and RMSprop written out by hand."""
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo = A2C(num_envs=2, num_steps=3, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5)
    rng = np.random.default_rng(0)
    obs = jnp.asarray(rng.normal(size=(3, 2, 4)), jnp.float32)
    action = jnp.asarray(rng.integers(0, 2, size=(3, 2)), jnp.int32)
    adv = jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)
    ret = jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)
    zeros = jnp.zeros((3, 2))
    rollout = Rollout(obs, action, zeros, zeros, zeros, zeros > 0, zeros > 0, zeros > 0, obs)

    def manual_loss(params):
        p = eqx.combine(params, eqx.filter(policy, trainable(policy, as_filter=True), inverse=True))
        o, a = obs.reshape(6, 4), action.reshape(6)
        logits = jax.vmap(p.actor)(o)
        logp_all = jax.nn.log_softmax(logits)
        logp = jnp.take_along_axis(logp_all, a[:, None], axis=1)[:, 0]
        entropy = -(jnp.exp(logp_all) * logp_all).sum(-1)
        value = jax.vmap(p.critic)(o)[:, 0]
        return (
            -jnp.mean(adv.reshape(6) * logp)
            - 0.01 * entropy.mean()
            + 0.5 * jnp.mean((ret.reshape(6) - value) ** 2)
        )

    params = trainable(policy)
    grads = jax.grad(manual_loss)(params)
    g = [np.asarray(x, np.float64) for x in jax.tree.leaves(grads)]
    norm = np.sqrt(sum((x**2).sum() for x in g))
    scale = min(1.0, 0.5 / norm)
    expected = [
        np.asarray(p) - 7e-4 * (x * scale) / (np.sqrt(0.01 * (x * scale) ** 2) + 1e-5)
        for p, x in zip(jax.tree.leaves(params), g, strict=True)
    ]
    opt_state = algo._optimizer().init(params)
    new_policy, _, metrics = algo.update(
        policy, opt_state, rollout, adv, ret, jnp.asarray(7e-4, jnp.float32)
    )
    for a, b in zip(_leaves(new_policy), expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(metrics["loss"], manual_loss(params), rtol=1e-5)


def test_one_gradient_step_per_iteration_from_the_loss():
    """With a zero learning rate nothing moves; the RMSprop accumulator still counts
    the gradients, so one iteration leaves a non-zero `nu` in the optimizer state."""
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo = A2C(num_envs=2, num_steps=5, learning_rate=1e-30)
    state = algo.init(env, policy, 10, key=jr.key(2))
    state = algo.train(state)
    for a, b in zip(_leaves(state.policy), _leaves(policy), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)
    nu = state.opt_state[1].nu
    assert max(float(jnp.abs(x).max()) for x in jax.tree.leaves(nu)) > 0


def test_vmap_over_two_seeds_matches_single_runs():
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo = A2C(num_envs=2, num_steps=5)

    def run(key):
        return algo.learn(env, policy, 10 * 20, key=key)

    keys = jr.split(jr.key(4), 2)
    batched = jax.vmap(run)(keys)
    for i in range(2):
        single = _leaves(run(keys[i]))
        member = [x[i] for x in _leaves(batched)]
        for a, b in zip(single, member, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert not np.allclose(_leaves(batched)[0][0], _leaves(batched)[0][1])


def test_learn_does_not_retrace_for_new_key_or_hyperparameters():
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    traces = []

    class TraceCounter(AbstractStatelessCallback):
        def on_iteration(self, ctx, *, key):
            traces.append(1)
            return ctx.state

    for lr, gamma, seed in ((7e-4, 0.99, 0), (1e-3, 0.9, 1), (3e-4, 0.95, 2)):
        algo = A2C(num_envs=2, num_steps=5, learning_rate=lr, gamma=gamma)
        algo.learn(env, policy, 30, key=jr.key(seed), callback=TraceCounter())
    assert len(traces) == 1


def test_vmap_over_learning_rate_in_one_program_differs_per_member():
    env = CartPole()
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))

    def run(lr):
        return A2C(num_envs=2, num_steps=5, learning_rate=lr).learn(
            env, policy, 10 * 5, key=jr.key(1)
        )

    trained = jax.vmap(run)(jnp.asarray([1e-4, 1e-3, 1e-8]))
    first, init = _leaves(trained)[0], _leaves(policy)[0]
    moved = [float(np.abs(first[i] - init).max()) for i in range(3)]
    assert moved[1] > moved[0] > moved[2]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(num_envs=0), ValueError, "num_envs"),
        (dict(num_steps=2.5), TypeError, "num_steps"),
        (dict(learning_rate=0.0), ValueError, "learning_rate"),
        (dict(gamma=1.5), ValueError, "gamma"),
        (dict(gae_lambda=-0.1), ValueError, "gae_lambda"),
        (dict(ent_coef=-1.0), ValueError, "ent_coef"),
        (dict(vf_coef=float("nan")), ValueError, "vf_coef"),
        (dict(max_grad_norm=0.0), ValueError, "max_grad_norm"),
        (dict(normalize_advantages=1), TypeError, "normalize_advantages"),
        (dict(use_rmsprop="yes"), TypeError, "use_rmsprop"),
        (dict(rmsprop_decay=1.0), ValueError, "rmsprop_decay"),
        (dict(rmsprop_eps=0.0), ValueError, "rmsprop_eps"),
        (dict(rmsprop_eps="1e-5"), TypeError, "rmsprop_eps"),
    ],
)
def test_bad_arguments_raise_with_the_argument_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        A2C(**kwargs)


def test_bad_policy_and_total_timesteps():
    env = CartPole()
    with pytest.raises(TypeError, match="AbstractActorCriticPolicy"):
        A2C().learn(env, MLPQPolicy(env=env, key=jr.key(0)), 80, key=jr.key(0))
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    with pytest.raises(ValueError, match="total_timesteps"):
        A2C().learn(env, policy, 0, key=jr.key(0))
