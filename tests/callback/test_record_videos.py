"""RecordVideos: device rendering, mp4 files read back, vmap folders, overwriting."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # ffmpeg fork+exec

imageio = pytest.importorskip("imageio.v2")
iio = pytest.importorskip("imageio.v3")
pytest.importorskip("imageio_ffmpeg")

from lerax.algorithm import PPO  # noqa: E402
from lerax.callback.logging._episode_video import episode_limit, render_until_done  # noqa: E402
from lerax.callback.logging._video import render_episode  # noqa: E402
from lerax.callback.video._record_videos import RecordVideos  # noqa: E402
from lerax.callback.video._video_writer import FINAL, VideoWriter  # noqa: E402
from lerax.env import CartPole, TimeLimit  # noqa: E402
from lerax.policy import MLPActorCriticPolicy  # noqa: E402

# Episodes of exactly 6 steps (an untrained CartPole policy needs more to fall):
# every episode video has 7 frames, the reset state and one per step.
ENV = TimeLimit(CartPole(), 6)
POLICY = MLPActorCriticPolicy(env=ENV, key=jr.key(0))
ALGO = PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)
ITERATIONS = 4
TOTAL = ALGO.steps_per_iteration * ITERATIONS  # 128
W, H = 32, 24


def _frames(path):
    frames = iio.imread(path)  # decodes the whole mp4: (T, H, W, 3)
    assert imageio.get_reader(path).count_frames() == frames.shape[0]
    return frames


def _callbacks(root, **host_only):
    """Both methods at once: one compiled program for every learn in this file
    (`dirname`, `root`, `force` and `fps` are host-only)."""
    return [
        RecordVideos("episodes", frequency=2, root=root, width=W, height=H, **host_only),
        RecordVideos(
            "steps",
            method="step",
            frequency=50,
            root=root,
            num_steps=10,
            width=W,
            height=H,
            **host_only,
        ),
    ]


def _learn(callbacks, seeds=2):
    keys = jr.split(jr.key(0), seeds)
    return jax.vmap(lambda k: ALGO.learn(ENV, POLICY, TOTAL, key=k, callback=callbacks))(keys)


def _reference_rollout(env, policy, num_steps, key):
    """States (reset state first) of a rollout that never freezes, and the steps
    that ended an episode: an independent reference for `render_until_done`."""
    reset_key, run_key = jr.split(key)
    state, obs = env.reset(key=reset_key)

    def step(carry, t):
        state, obs = carry
        action = env.action_space.clip(policy.predict(obs))
        state, obs, _, terminated, truncated, _ = env.step(
            state, action, key=jr.fold_in(run_key, t)
        )
        return (state, obs), (state, terminated | truncated)

    _, (states, done) = jax.lax.scan(step, (state, obs), jnp.arange(num_steps))
    states = jax.tree.map(lambda first, rest: jnp.concatenate([first[None], rest]), state, states)
    return states, done


def test_render_until_done_stops_at_the_episode_end_under_jit_and_vmap():
    env, policy = CartPole(), MLPActorCriticPolicy(env=CartPole(), key=jr.key(3))

    @jax.jit
    @jax.vmap
    def run(key):
        frames, num_frames = render_until_done(env, policy, 20, 8, 6, key=key)
        clip = render_episode(env, policy, 20, 8, 6, key=key)
        states, done = _reference_rollout(env, policy, 20, key)
        rendered = jax.vmap(lambda s: env.render(s, width=8, height=6))(states)
        return frames, num_frames, clip, rendered, done

    frames, num_frames, clips, rendered, done = run(jr.split(jr.key(2), 2))
    assert frames.shape == (2, 21, 6, 8, 3) and frames.dtype == jnp.uint8
    for b in range(2):
        n = int(np.argmax(np.asarray(done[b]))) + 2  # reset frame + steps to the end
        assert bool(done[b].any()) and n < 21, "this policy drops the pole within 20 steps"
        assert int(num_frames[b]) == n
        np.testing.assert_array_equal(frames[b, :n], rendered[b, :n])
        rest = frames[b, n:]
        np.testing.assert_array_equal(rest, np.broadcast_to(frames[b, n - 1], rest.shape))
        np.testing.assert_array_equal(frames[b, : n - 1], clips[b, : n - 1])


def test_episode_limit_is_the_smallest_along_the_wrappers():
    assert episode_limit(ENV) == 6
    assert episode_limit(CartPole()) == 500
    assert episode_limit(TimeLimit(CartPole(max_episode_steps=4), 9)) == 4


@pytest.mark.slow  # ~20 s of subprocesses or compilation: CI's slow stage
def test_both_methods_in_a_vmapped_learn_write_one_folder_per_member(tmp_path):
    callbacks = _callbacks(tmp_path, fps=25)
    assert not any(tmp_path.iterdir()), "construction has no side effect"
    _learn(callbacks)
    for member in ("seed_0", "seed_1"):
        # "episode", frequency 2: iterations 2 and 4, plus the final episode; every
        # episode lasts 6 steps: 7 frames
        folder = tmp_path / "episodes" / member / "videos"
        names = sorted(p.name for p in folder.iterdir())
        assert names == [
            "CartPole-v1-final.mp4",
            "CartPole-v1-iteration-2.mp4",
            "CartPole-v1-iteration-4.mp4",
        ]
        for name in names:
            frames = _frames(folder / name)
            assert frames.shape == (7, H, W, 3) and frames.dtype == np.uint8
            assert frames.std() > 0, "not a blank video"
        assert imageio.get_reader(folder / names[0]).get_meta_data()["fps"] == 25.0
        # "step", frequency 50 env steps, 32 per iteration: 50 and 100 are passed at
        # 64 and 128 steps; a clip is num_steps=10 frames (episodes auto-reset)
        folder = tmp_path / "steps" / member / "videos"
        assert sorted(p.name for p in folder.iterdir()) == [
            "CartPole-v1-final.mp4",
            "CartPole-v1-step-128.mp4",
            "CartPole-v1-step-64.mp4",
        ]
        assert _frames(folder / "CartPole-v1-step-64.mp4").shape == (10, H, W, 3)
        assert _frames(folder / "CartPole-v1-final.mp4").shape == (7, H, W, 3)
    assert sorted(p.name for p in (tmp_path / "steps").iterdir()) == ["seed_0", "seed_1"]


def test_existing_files_raise_unless_force_or_written_by_the_same_callback(tmp_path):
    (tmp_path / "episodes" / "videos").mkdir(parents=True)
    # an empty folder is no conflict; same program as the previous test (no retrace)
    callbacks = _callbacks(tmp_path)
    _learn(callbacks)
    final = tmp_path / "episodes" / "seed_0" / "videos" / "CartPole-v1-final.mp4"
    first = final.read_bytes()
    _learn(callbacks)  # the same objects continue in their folders (chunked training)
    final.write_bytes(b"stale")
    with pytest.raises(FileExistsError, match="force=True"):
        _learn(_callbacks(tmp_path))
    assert final.read_bytes() == b"stale", "nothing ran"
    _learn(_callbacks(tmp_path, force=True))
    assert final.read_bytes() == first, "same seeds, same video"
    assert _frames(final).shape == (7, H, W, 3)
    assert not list(tmp_path.rglob(".*")), "no partial files left"


def test_a_failing_write_is_reported_once_and_training_goes_on(tmp_path, capfd):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    writer = VideoWriter(blocker, "Env", 50.0)
    rows = {
        "kind": np.array([0, FINAL]),
        "number": np.array([1, 1]),
        "num_frames": np.array([2, 2]),
        "frames": np.zeros((2, 3, 4, 4, 3), np.uint8),
    }
    writer(rows, np.array([[0], [1]]))  # returns once both are handled
    assert writer.failure is not None
    assert capfd.readouterr().err.count("RecordVideos could not write") == 1
    assert writer.path((), 0, 3) == blocker / "videos" / "Env-iteration-3.mp4"
    assert writer.path((1,), FINAL, 0) == blocker / "seed_1" / "videos" / "Env-final.mp4"
    assert writer.path((0, 2), 1, 64) == blocker / "0_2" / "videos" / "Env-step-64.mp4"


def test_bad_method_lists_the_choices():
    with pytest.raises(ValueError, match="'episode', 'step'") as error:
        RecordVideos("run", method="iteration")
    assert "method" in str(error.value) and "'iteration'" in str(error.value)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(frequency=0), ValueError, "frequency"),
        (dict(num_steps=0), ValueError, "num_steps"),
        (dict(width=601), ValueError, "width"),
        (dict(height=0), ValueError, "height"),
        (dict(fps=0), ValueError, "fps"),
        (dict(force="yes"), TypeError, "force"),
        (dict(root=3), TypeError, "root"),
    ],
)
def test_bad_arguments_raise_with_the_argument_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        RecordVideos("run", **kwargs)
    with pytest.raises(TypeError, match="dirname"):
        RecordVideos("")


def test_host_only_settings_do_not_change_the_program(tmp_path):
    a = RecordVideos("run", root=tmp_path, force=True, fps=10)
    b = RecordVideos("other-run")
    assert jax.tree.structure(a) == jax.tree.structure(b), "dirname, root, force, fps: no retrace"
    assert jax.tree.structure(a) != jax.tree.structure(RecordVideos("run", frequency=7))
    assert a.config() == {
        "type": "RecordVideos",
        "dirname": "run",
        "method": "episode",
        "frequency": 100,
        "force": True,
        "root": str(tmp_path),
        "num_steps": None,
        "width": 600,
        "height": 400,
        "fps": 10.0,
    }
    assert not (tmp_path / "run").exists()
