"""TensorBoardBackend: written through tensorboardX, read back with tensorboard's reader."""

from __future__ import annotations

import copy
import io
import os

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from lerax.callback.logging._tensorboard import TensorBoardBackend, encode_gif

# `import comet_ml` (also done by `import tensorboardX` when comet_ml is installed) turns
# on Comet's Sentry error reporting in about half of the imports: keep tests offline.
os.environ["COMET_ERROR_TRACKING_ENABLE"] = "false"


def _accumulate(run_dir: str) -> EventAccumulator:
    accumulator = EventAccumulator(run_dir, size_guidance={"images": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def _frames(num: int = 6, height: int = 20, width: int = 30) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(num, height, width, 3), dtype=np.uint8)


def test_scalars_hparams_and_video_read_back(tmp_path):
    backend = TensorBoardBackend(log_dir=tmp_path)
    backend.open("PPO_CartPole_test", metadata={"algorithm": "PPO", "total_timesteps": 300})
    backend.log_hparams({"learning_rate": np.float32(3e-4), "num_envs": 4, "algorithm": "PPO"})
    backend.log_hparams({"normalize": True})
    for step in (100, 200, 300):
        backend.log_scalars({"episode/return": step / 10, "loss": -step / 100}, step)
    backend.log_scalars({"episode/return_mean": float("nan")}, 300)
    backend.log_video("video/episode", _frames(), step=300, fps=25.0)
    backend.close()
    backend.close()  # idempotent

    run_dir = tmp_path / "PPO_CartPole_test"
    assert sorted(os.listdir(tmp_path)) == ["PPO_CartPole_test"]  # no hparams sub-run
    accumulator = _accumulate(str(run_dir))

    returns = accumulator.Scalars("episode/return")
    assert [e.step for e in returns] == [100, 200, 300]
    np.testing.assert_allclose([e.value for e in returns], [10.0, 20.0, 30.0])
    np.testing.assert_allclose([e.value for e in accumulator.Scalars("loss")], [-1, -2, -3])
    assert np.isnan(accumulator.Scalars("episode/return_mean")[0].value)

    content = accumulator.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    assert hparams_metadata.SESSION_START_INFO_TAG in content
    assert hparams_metadata.SESSION_END_INFO_TAG in content
    start = hparams_metadata.parse_session_start_info_plugin_data(
        content[hparams_metadata.SESSION_START_INFO_TAG]
    )
    values = dict(start.hparams)
    assert values["learning_rate"].number_value == pytest.approx(3e-4)
    assert values["num_envs"].number_value == 4
    assert values["algorithm"].string_value == "PPO"
    assert values["normalize"].bool_value is True

    (event,) = accumulator.Images("video/episode")
    assert event.step == 300 and (event.width, event.height) == (30, 20)
    gif = Image.open(io.BytesIO(event.encoded_image_string))
    assert gif.format == "GIF" and gif.n_frames == 6
    gif.seek(0)
    first = np.asarray(gif.convert("RGB"), dtype=np.int32)
    # GIF quantises to a 256-colour palette: close, not equal.
    assert np.abs(first - _frames()[0]).mean() < 40


def test_member_runs_get_nested_directories_and_one_hparams_experiment(tmp_path):
    template = TensorBoardBackend(log_dir=tmp_path / "runs")
    members = [copy.copy(template) for _ in range(2)]
    for i, backend in enumerate(members):
        backend.open(f"X/seed_{i}", metadata={"member_index": (i,)})
        backend.log_hparams({"learning_rate": 0.1 * (i + 1), "algorithm": "PPO"})
        backend.log_scalars({"episode/return": float(i)}, 1)
    for backend in members:
        backend.close()
    for i in range(2):
        run_dir = tmp_path / "runs" / "X" / f"seed_{i}"
        scalars = _accumulate(str(run_dir)).Scalars("episode/return")
        assert [e.value for e in scalars] == [float(i)]

    # What TensorBoard's HParams dashboard shows: both hparams, and the scalar tag
    # inferred as the metric column (no experiment summary was written).
    experiment = _hparams_experiment(str(tmp_path / "runs"))
    assert sorted(info.name for info in experiment.hparam_infos) == ["algorithm", "learning_rate"]
    assert [info.name.tag for info in experiment.metric_infos] == ["episode/return"]


def _hparams_experiment(log_dir: str):
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.context import RequestContext
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, get_experiment

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(log_dir)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, log_dir)
    context = base_plugin.TBContext(logdir=log_dir, data_provider=provider, multiplexer=multiplexer)
    handler = get_experiment.Handler(
        RequestContext(), backend_context.Context(context), "", api_pb2.GetExperimentRequest()
    )
    return handler.run()


def test_construction_creates_nothing_and_validates(tmp_path):
    backend = TensorBoardBackend(log_dir=tmp_path / "never")
    assert not (tmp_path / "never").exists()
    assert backend.config() == {
        "type": "TensorBoardBackend",
        "log_dir": str(tmp_path / "never"),
        "flush_secs": 10.0,
    }
    with pytest.raises(TypeError, match="log_dir"):
        TensorBoardBackend(log_dir=3)
    with pytest.raises(ValueError, match="flush_secs"):
        TensorBoardBackend(flush_secs=0)
    with pytest.raises(TypeError, match="flush_secs"):
        TensorBoardBackend(flush_secs="10")


def test_misuse_is_loud(tmp_path):
    backend = TensorBoardBackend(log_dir=tmp_path)
    with pytest.raises(RuntimeError, match="not open"):
        backend.log_scalars({"a": 1.0}, 0)
    with pytest.raises(ValueError, match="run name"):
        backend.open("../escape")
    backend.open("ok")
    with pytest.raises(RuntimeError, match="already open"):
        backend.open("again")
    with pytest.raises(ValueError, match="frames"):
        backend.log_video("v", np.zeros((4, 8, 8), np.uint8), 0, 10.0)
    backend.close()


def test_gif_frame_delay():
    gif = Image.open(io.BytesIO(encode_gif(_frames(3), fps=10.0)))
    assert gif.info["duration"] == 100 and gif.info["loop"] == 0
    fast = Image.open(io.BytesIO(encode_gif(_frames(3), fps=120.0)))
    assert fast.info["duration"] == 20


def test_missing_package_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"lerax\[tensorboard\]"):
        TensorBoardBackend()


def test_the_tensorboard_extra_brings_a_native_crc():
    # tensorboardX checksums every event; its pure-Python fallback costs ~90 us per
    # event on the writer thread, which competes with training for the CPU.
    from tensorboardX import crc32c

    assert crc32c._crc32c_native is not None
    assert crc32c.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


def test_flush_puts_events_on_disk_before_close(tmp_path):
    backend = TensorBoardBackend(log_dir=tmp_path, flush_secs=3600)
    backend.open("run")
    backend.log_scalars({"x": 1.0}, 1)
    backend.log_scalars({"x": 2.0}, 2)
    backend.flush()
    scalars = _accumulate(str(tmp_path / "run")).Scalars("x")
    assert [(e.step, e.value) for e in scalars] == [(1, 1.0), (2, 2.0)]
    backend.log_scalars({"x": 3.0}, 3)
    backend.close()
    assert [e.step for e in _accumulate(str(tmp_path / "run")).Scalars("x")] == [1, 2, 3]
    with pytest.raises(RuntimeError, match="not open"):
        backend.log_scalars({"x": 4.0}, 4)


def test_events_with_other_tags_and_copies_keep_their_own_values(tmp_path):
    """Summaries are copies of a per-tag-set template: a different set of tags, and
    member copies of one backend sharing the templates, each write their own values."""
    backend = TensorBoardBackend(log_dir=tmp_path)
    member = copy.copy(backend)
    backend.open("a")
    member.open("b")
    backend.log_scalars({"x": 1.0, "y": 2.0}, 1)
    backend.log_scalars({"y": 3.0, "z": 4.0}, 2)
    member.log_scalars({"x": 10.0, "y": 20.0}, 1)
    backend.log_scalars({"x": 5.0, "y": 6.0}, 3)
    backend.close()
    member.close()
    a, b = _accumulate(str(tmp_path / "a")), _accumulate(str(tmp_path / "b"))
    read = lambda acc, tag: [(e.step, e.value) for e in acc.Scalars(tag)]  # noqa: E731
    assert read(a, "x") == [(1, 1.0), (3, 5.0)]
    assert read(a, "y") == [(1, 2.0), (2, 3.0), (3, 6.0)]
    assert read(a, "z") == [(2, 4.0)]
    assert read(b, "x") == [(1, 10.0)] and read(b, "y") == [(1, 20.0)]


def test_scalar_values_read_back_as_float32_whatever_their_tags(tmp_path):
    """Each value is stored as the float32 nearest to it (beyond float32's range: the
    infinity), read back by tensorboard's reader under its own tag; long and non-ASCII
    tags (multi-byte lengths in the encoding) included."""
    values = {
        "plain": 0.1,
        "numpy": np.float32(2.5),
        "integer": np.int64(7),
        "tiny": 1e-40,  # a float32 subnormal
        "huge": 1e300,  # beyond float32: +inf
        "-huge": -1e300,
        "nan": float("nan"),
        "-inf": float("-inf"),
        "ünïcode/ключ": -3.25,
        "long/" + "x" * 300: 42.0,
    }
    backend = TensorBoardBackend(log_dir=tmp_path)
    backend.open("values")
    backend.log_scalars(values, 9)
    backend.log_scalars({k: 1.0 for k in values}, 10)  # the same template, other values
    backend.close()
    accumulator = _accumulate(str(tmp_path / "values"))
    assert sorted(accumulator.Tags()["scalars"]) == sorted(values)
    with np.errstate(over="ignore"):
        expected = {k: np.float32(np.float64(v)) for k, v in values.items()}
    for tag, want in expected.items():
        first, second = accumulator.Scalars(tag)
        assert (first.step, second.step, second.value) == (9, 10, 1.0)
        got = np.float32(first.value)
        assert got == want or (np.isnan(got) and np.isnan(want)), (tag, got, want)
    assert np.isposinf(accumulator.Scalars("huge")[0].value)
