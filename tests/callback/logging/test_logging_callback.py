"""LoggingCallback inside real `learn` calls: values, vmap, hparams, video, faults."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from _logging_helpers import RecordingBackend, RecordRaw, reference_events

from lerax import host
from lerax.algorithm import PPO, trainable
from lerax.callback import AbstractStatelessCallback
from lerax.callback.logging import LoggingCallback
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

NUM_ENVS, NUM_STEPS, ITERATIONS = 3, 32, 6
ENV = CartPole()
POLICY = MLPActorCriticPolicy(env=ENV, key=jr.key(0))


def _algo(**kw):
    return PPO(num_envs=NUM_ENVS, num_steps=NUM_STEPS, num_epochs=1, num_minibatches=2, **kw)


@pytest.fixture(autouse=True)
def _clear():
    RecordingBackend.opened.clear()
    yield
    RecordingBackend.opened.clear()


def _run(callbacks, key=None, algo=None):
    key = jr.key(1) if key is None else key
    algo = algo or _algo()
    state = algo.init(ENV, POLICY, NUM_ENVS * NUM_STEPS * ITERATIONS, key=key, callback=callbacks)
    return algo.train(state, callback=callbacks)


def test_logged_series_equal_an_independent_computation():
    logger = LoggingCallback(RecordingBackend(), name="ref", alpha=0.7)
    recorder = RecordRaw(length=NUM_STEPS * ITERATIONS)
    state = _run([logger, recorder])
    raw = state.callback_step_state.step_states[1]
    expected = reference_events(np.asarray(raw.rewards), np.asarray(raw.dones), NUM_STEPS, 0.7)
    (backend,) = RecordingBackend.opened
    assert backend.name == "ref" and backend.closed
    assert [step for step, _ in backend.scalars] == [e["time/timesteps"] for e in expected]
    for (_, got), want in zip(backend.scalars, expected, strict=True):
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-4), key
        for key in (
            "train/loss",
            "train/policy_loss",
            "train/value_loss",
            "train/entropy",
            "train/approx_kl",
            "train/clip_fraction",
            "train/explained_variance",
            "train/learning_rate",
            "time/steps_per_second",
            "time/episodes",
        ):
            assert key in got
    lrs = [s["train/learning_rate"] for _, s in backend.scalars]
    np.testing.assert_allclose(
        lrs, [2.5e-4 * (1 - i / ITERATIONS) for i in range(ITERATIONS)], rtol=1e-5
    )
    assert backend.hparams["learning_rate"] == pytest.approx(2.5e-4)
    assert backend.hparams["num_envs"] == NUM_ENVS and backend.hparams[
        "env/gravity"
    ] == pytest.approx(9.8)
    assert backend.hparams["optimizer"] == "adam" and backend.hparams["optimizer/eps"] == 1e-5
    assert (
        backend.hparams["learning_rate_schedule"] == "linear" and "adam_eps" not in backend.hparams
    )


class _StopAt(AbstractStatelessCallback):
    at: int = eqx.field(static=True)

    def continue_training(self, ctx, *, key):
        return ctx.iteration_count < self.at


@pytest.mark.parametrize("stop_at", [None, 5])
def test_the_last_iteration_is_always_logged(stop_at):
    """log_interval=4 over 6 planned iterations logs iterations 4 and 6 (the planned
    end); stopped early after iteration 5 it logs 4 and 5, the stop's event covering
    the episodes since iteration 4."""
    logger = LoggingCallback(RecordingBackend(), name="last", alpha=0.7, log_interval=4)
    recorder = RecordRaw(length=NUM_STEPS * ITERATIONS)
    callbacks = [logger, recorder] + ([] if stop_at is None else [_StopAt(at=stop_at)])
    state = _run(callbacks)
    ran = ITERATIONS if stop_at is None else stop_at
    assert int(state.iteration) == ran
    raw = state.callback_step_state.step_states[1]
    expected = reference_events(
        np.asarray(raw.rewards)[:, : ran * NUM_STEPS],
        np.asarray(raw.dones)[:, : ran * NUM_STEPS],
        NUM_STEPS,
        0.7,
        log_interval=4,
    )
    assert [e["time/iteration"] for e in expected] == [4, ran]
    (backend,) = RecordingBackend.opened
    assert [step for step, _ in backend.scalars] == [e["time/timesteps"] for e in expected]
    for (_, got), want in zip(backend.scalars, expected, strict=True):
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-4), key


def test_vmap_over_seeds_batched_host_calls_and_distinct_runs():
    logger = LoggingCallback(RecordingBackend(), name="pop")
    recorder = RecordRaw(length=NUM_STEPS * ITERATIONS)
    before = host.host_calls("0/logging/log")  # the logger is the list's first callback
    states = jax.vmap(lambda k: _run([logger, recorder], key=k))(jr.split(jr.key(2), 4))
    # One host call carries a batch of events of every member: at most one per event.
    assert 1 <= host.host_calls("0/logging/log") - before <= ITERATIONS
    runs = {b.name: b for b in RecordingBackend.opened}
    assert set(runs) == {f"pop/seed_{i}" for i in range(4)} | {"pop/aggregate"}
    raw = states.callback_step_state.step_states[1]
    series = []
    for i in range(4):
        expected = reference_events(
            np.asarray(raw.rewards[i]), np.asarray(raw.dones[i]), NUM_STEPS, 0.9
        )
        got = runs[f"pop/seed_{i}"].scalars
        assert runs[f"pop/seed_{i}"].metadata["member_index"] == (i,)
        for (_, g), w in zip(got, expected, strict=True):
            assert g["episode/count"] == w["episode/count"]
            if "episode/return_mean" in w:
                assert g["episode/return_mean"] == pytest.approx(w["episode/return_mean"], rel=1e-5)
        series.append(tuple(g["episode/count"] for _, g in got))
    assert len(set(series)) > 1, "seeds should produce different series"
    aggregate = runs["pop/aggregate"].scalars
    assert len(aggregate) == ITERATIONS
    counts = np.array(
        [[g["episode/count"] for _, g in runs[f"pop/seed_{i}"].scalars] for i in range(4)]
    )
    np.testing.assert_allclose([a["episode/count/mean"] for _, a in aggregate], counts.mean(0))
    np.testing.assert_allclose([a["episode/count/max"] for _, a in aggregate], counts.max(0))


def test_vmap_over_learning_rate_records_each_members_value():
    logger = LoggingCallback(RecordingBackend(), name="sweep")
    rates = jnp.asarray([1e-3, 3e-4])
    jax.vmap(lambda lr: _run([logger], algo=_algo(learning_rate=lr)))(rates)
    runs = {b.name: b for b in RecordingBackend.opened}
    assert runs["sweep/seed_0"].hparams["learning_rate"] == pytest.approx(1e-3)
    assert runs["sweep/seed_1"].hparams["learning_rate"] == pytest.approx(3e-4)


def test_nested_vmap_names_members_by_index_tuple():
    logger = LoggingCallback(RecordingBackend(), name="grid", log_interval=3)
    keys = jr.split(jr.key(3), 4).reshape(2, 2)
    jax.vmap(jax.vmap(lambda k: _run([logger], key=k)))(keys)
    names = {b.name for b in RecordingBackend.opened}
    assert {"grid/0_0", "grid/0_1", "grid/1_0", "grid/1_1", "grid/aggregate"} == names
    run = next(b for b in RecordingBackend.opened if b.name == "grid/1_0")
    assert [s for s, _ in run.scalars] == [3 * NUM_ENVS * NUM_STEPS, 6 * NUM_ENVS * NUM_STEPS]


def test_default_name_and_context_manager_continues_steps():
    logger = LoggingCallback(RecordingBackend())
    with logger:
        _run([logger])
        _run([logger], key=jr.key(9))
    (backend,) = RecordingBackend.opened
    assert backend.name.startswith("PPO_CartPole-v1_")
    steps = [s for s, _ in backend.scalars]
    per_call = NUM_ENVS * NUM_STEPS
    assert steps == [per_call * (i + 1) for i in range(2 * ITERATIONS)]
    assert backend.closed


def test_a_failing_backend_is_isolated_and_training_is_unchanged(capfd):
    good = RecordingBackend()
    logger = LoggingCallback([RecordingBackend(fail_on="log_scalars"), good], name="faulty")
    trained = _run([logger]).policy
    plain = _run(None).policy
    for a, b in zip(
        jax.tree.leaves(trainable(trained)), jax.tree.leaves(trainable(plain)), strict=True
    ):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    healthy = [b for b in RecordingBackend.opened if b.fail_on is None]
    assert len(healthy) == 1 and len(healthy[0].scalars) == ITERATIONS
    err = capfd.readouterr().err
    assert err.count("failed in log_scalars") == 1


def test_video_is_rendered_on_device_only_when_due():
    logger = LoggingCallback(
        RecordingBackend(),
        name="video",
        video_interval=3,
        video_num_steps=7,
        video_width=40,
        video_height=30,
        video_fps=25.0,
    )
    _run([logger])
    (backend,) = RecordingBackend.opened
    assert [step for _, _, step, _ in backend.videos] == [
        3 * NUM_ENVS * NUM_STEPS,
        6 * NUM_ENVS * NUM_STEPS,
    ]
    tag, frames, _, fps = backend.videos[0]
    assert tag == "video/episode" and fps == 25.0
    assert frames.shape == (7, 30, 40, 3) and frames.dtype == np.uint8
    assert len({frames[i].tobytes() for i in range(7)}) > 1, "the pole should move"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(backend="tb"), TypeError, "backend"),
        (dict(backend=[]), TypeError, "backend"),
        (dict(alpha=0.0), ValueError, "alpha"),
        (dict(log_interval=0), ValueError, "log_interval"),
        (dict(video_interval=-1), ValueError, "video_interval"),
        (dict(name=""), TypeError, "name"),
        (dict(hparams=[1]), TypeError, "hparams"),
    ],
)
def test_bad_arguments_raise_with_the_argument_name(kwargs, error, match):
    kwargs = {"backend": RecordingBackend(), **kwargs}
    with pytest.raises(error, match=match):
        LoggingCallback(**kwargs)


def test_construction_has_no_side_effect():
    LoggingCallback(RecordingBackend(), name="quiet")
    assert RecordingBackend.opened == []
