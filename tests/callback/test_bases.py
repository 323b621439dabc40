"""Each partial base and CallbackList called directly, under jit and vmap over seeds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from _callback_helpers import CountSteps, LogIterations, StartEnd, StopAtIteration

from lerax.callback import (
    CallbackList,
    EmptyCallbackState,
    EmptyCallbackStepState,
    IterationContext,
    ResetContext,
    StepContext,
    TrainingContext,
)
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

ENV = CartPole()
POLICY = MLPActorCriticPolicy(env=ENV, key=jr.key(0))


def _step_ctx(state, reward, done):
    obs = jnp.zeros(4)
    return StepContext(
        state=state,
        env=ENV,
        policy=POLICY,
        observation=obs,
        action=jnp.asarray(1),
        reward=reward,
        next_observation=obs,
        terminated=done,
        truncated=jnp.asarray(False),
        done=done,
        iteration_count=jnp.asarray(0),
        num_timesteps=jnp.asarray(0),
    )


def _iter_ctx(state, step_state, iteration, loss):
    return IterationContext(
        state=state,
        step_state=step_state,
        env=ENV,
        policy=POLICY,
        iteration_count=iteration,
        num_timesteps=iteration * 10,
        num_episodes=jnp.asarray(0),
        total_timesteps=jnp.asarray(100),
        training_log={"loss": loss},
    )


def test_step_callback_under_jit_and_vmap_over_seeds():
    cb = CountSteps()
    reset_ctx = ResetContext(env=ENV, policy=POLICY, total_timesteps=100, num_envs=1)

    @jax.jit
    def run(rewards, dones):
        state = cb.step_reset(reset_ctx, key=jr.key(0))

        def body(s, x):
            return cb.on_step(_step_ctx(s, x[0], x[1]), key=jr.key(1)), None

        return jax.lax.scan(body, state, (rewards, dones))[0]

    rewards = jnp.asarray([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])
    dones = jnp.asarray([[False, True, True], [False, False, True]])
    out = jax.vmap(run)(rewards, dones)
    np.testing.assert_array_equal(out.steps, [3, 3])
    np.testing.assert_array_equal(out.episodes, [2, 1])
    np.testing.assert_allclose(out.reward_sum, [6.0, 1.5])
    assert cb.reset(reset_ctx, key=jr.key(0)) == EmptyCallbackState()


def test_iteration_and_training_callbacks_under_vmap():
    log, start_end, stop = LogIterations(), StartEnd(), StopAtIteration(3)
    reset_ctx = ResetContext(env=ENV, policy=POLICY, total_timesteps=100, num_envs=1)

    def run(loss_scale):
        s = log.reset(reset_ctx, key=jr.key(0))
        go = []
        for i in range(1, 5):
            s = log.on_iteration(
                _iter_ctx(s, EmptyCallbackStepState(), jnp.asarray(i), loss_scale * i),
                key=jr.key(i),
            )
            go.append(
                stop.continue_training(_iter_ctx(s, None, jnp.asarray(i), 0.0), key=jr.key(0))
            )
        t = start_end.reset(reset_ctx, key=jr.key(0))
        tctx = TrainingContext(
            state=t,
            step_state=None,
            env=ENV,
            policy=POLICY,
            iteration_count=jnp.asarray(7),
            num_timesteps=jnp.asarray(70),
            num_episodes=jnp.asarray(0),
            stopped=jnp.asarray(False),
            total_timesteps=jnp.asarray(100),
        )
        t = start_end.on_training_start(tctx, key=jr.key(0))
        t = start_end.on_training_end(
            TrainingContext(**{**tctx.__dict__, "state": t}), key=jr.key(0)
        )
        return s, jnp.stack(go), t

    s, go, t = jax.jit(jax.vmap(run))(jnp.asarray([1.0, 2.0]))
    np.testing.assert_array_equal(s.iterations, [4, 4])
    np.testing.assert_allclose(s.loss_sum, [10.0, 20.0])
    np.testing.assert_array_equal(s.last_timesteps, [40, 40])
    np.testing.assert_array_equal(go, [[True, True, False, False]] * 2)
    np.testing.assert_array_equal(t.started, [1, 1])
    np.testing.assert_array_equal(t.end_iteration, [7, 7])


def test_callback_list_is_the_and_of_children_and_threads_states():
    cbs = CallbackList([LogIterations(), StopAtIteration(2), StopAtIteration(5)])
    reset_ctx = ResetContext(env=ENV, policy=POLICY, total_timesteps=100, num_envs=1)

    @jax.jit
    def run():
        s = cbs.reset(reset_ctx, key=jr.key(0))
        ss = cbs.step_reset(reset_ctx, key=jr.key(1))
        go = []
        for i in range(1, 4):
            s = cbs.on_iteration(_iter_ctx(s, ss, jnp.asarray(i), 1.0), key=jr.key(i))
            go.append(cbs.continue_training(_iter_ctx(s, ss, jnp.asarray(i), 1.0), key=jr.key(0)))
        return s, jnp.stack(go)

    s, go = run()
    assert int(s.states[0].iterations) == 3
    np.testing.assert_array_equal(go, [True, False, False])
