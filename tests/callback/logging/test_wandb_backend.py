"""WandbBackend in offline mode, read back from the run's `.wandb` transaction log.

W&B 0.31 writes no `wandb-summary.json` / `config.yaml` for offline runs; everything
is in `run-<id>.wandb`, a LevelDB-style log of `wandb_internal_pb2.Record` protobufs
(7-byte file header `:W&B` + magic 0xBEE1 + version; 32 KiB blocks; every chunk
has a 7-byte header: crc32, length, type FULL/FIRST/MIDDLE/LAST).
"""

from __future__ import annotations

import copy
import glob
import json
import os
import struct
import sys
import threading
import time

import numpy as np
import pytest

from lerax.callback.logging._wandb import WandbBackend, encode_mp4

_BLOCK = 32 * 1024


def read_records(path: str):
    """Yield the protobuf records of a `.wandb` file."""
    from wandb.proto import wandb_internal_pb2

    with open(path, "rb") as file:
        data = file.read()
    assert data[:4] == b":W&B"
    position, pending = 7, b""
    while position + 7 <= len(data):
        left = _BLOCK - position % _BLOCK
        if left < 7:  # block trailer padding
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        position += 7
        if position + length > len(data):  # still being written
            return
        pending += data[position : position + length]
        position += length
        if kind in (1, 4):  # FULL or LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def read_run(run_dir: str, timeout: float = 30.0) -> dict:
    """Name, group, tags, config and history rows of one offline run.

    `run.finish()` can return before wandb-core has flushed the run's log (seen with
    two live runs in one process; the data is complete at interpreter exit), so wait
    for the `exit` record.
    """
    (path,) = glob.glob(os.path.join(run_dir, "run-*.wandb"))
    deadline = time.monotonic() + timeout
    while not any(r.WhichOneof("record_type") == "exit" for r in read_records(path)):
        assert time.monotonic() < deadline, f"{path} has no exit record"
        time.sleep(0.05)
    run = {"dir": run_dir, "config": {}, "history": []}
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(name=record.run.display_name, group=record.run.run_group)
            run["tags"] = list(record.run.tags)
            for item in record.run.config.update:
                run["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                run["config"][item.key] = json.loads(item.value_json)
        elif kind == "history":
            row = {}
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                row[key] = json.loads(item.value_json)
            run["history"].append(row)
    return run


@pytest.fixture(scope="module")
def wandb_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("wandb_home")
    saved = dict(os.environ)
    os.environ.update(
        WANDB_SILENT="true",
        WANDB_MODE="offline",
        WANDB_CACHE_DIR=str(root / "cache"),
        WANDB_CONFIG_DIR=str(root / "config"),
        WANDB_DATA_DIR=str(root / "data"),
        WANDB_DISABLE_GIT="true",
        WANDB_ERROR_REPORTING="false",  # no Sentry / telemetry from wandb-core
    )
    yield root
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def two_member_runs(wandb_env, tmp_path_factory):
    """Two vmapped members logged from a background thread, like LoggingCallback."""
    log_dir = tmp_path_factory.mktemp("wandb_runs")
    template = WandbBackend(
        project="lerax-test", config={"seed_base": 7}, dir=log_dir, tags=["test"], quiet=True
    )
    frames = np.random.default_rng(0).integers(0, 256, (8, 31, 40, 3), dtype=np.uint8)

    def work():
        members = [copy.copy(template) for _ in range(2)]
        for i, backend in enumerate(members):
            backend.open(f"PPO_CartPole/seed_{i}", metadata={"member_index": (i,)})
            backend.log_hparams({"learning_rate": np.float32(0.5 * (i + 1)), "algorithm": "PPO"})
        for step in (128, 256):
            for i, backend in enumerate(members):
                backend.log_scalars({"episode/return": step + i, "loss": float("nan")}, step)
        members[0].log_video("video/episode", frames, step=256, fps=20.0)
        for backend in members:
            backend.close()
            backend.close()  # idempotent

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    run_dirs = sorted(glob.glob(str(log_dir / "wandb" / "offline-run-*")))
    runs = sorted((read_run(d) for d in run_dirs), key=lambda run: run["name"])
    return run_dirs, runs


def test_two_opens_make_two_runs(two_member_runs):
    run_dirs, runs = two_member_runs
    assert len(run_dirs) == 2
    assert [run["name"] for run in runs] == ["PPO_CartPole/seed_0", "PPO_CartPole/seed_1"]
    assert all(run["group"] == "PPO_CartPole" for run in runs)
    assert all(run["tags"] == ["test"] for run in runs)


def test_config_scalars_and_video_read_back(two_member_runs):
    run_dirs, runs = two_member_runs
    for i, run in enumerate(runs):
        assert run["config"]["seed_base"] == 7
        assert run["config"]["learning_rate"] == pytest.approx(0.5 * (i + 1))
        assert run["config"]["algorithm"] == "PPO"
        rows = [row for row in run["history"] if "episode/return" in row]
        assert [row["_step"] for row in rows] == [128, 256]
        assert [row["episode/return"] for row in rows] == [128 + i, 256 + i]
        assert all(row["loss"] == "NaN" or np.isnan(float(row["loss"])) for row in rows)
    video = [row for row in runs[0]["history"] if "video/episode/_type" in row]
    assert video and video[0]["video/episode/_type"] == "video-file"
    assert video[0]["_step"] == 256
    assert not any("video/episode/_type" in row for row in runs[1]["history"])
    media = os.path.join(runs[0]["dir"], "files", video[0]["video/episode/path"])
    with open(media, "rb") as file:
        assert file.read()[4:8] == b"ftyp"  # an MP4 container


def test_mp4_encoding_round_trip():
    import imageio_ffmpeg

    frames = np.random.default_rng(1).integers(0, 256, (5, 17, 22, 3), dtype=np.uint8)
    data = encode_mp4(frames, fps=10.0)
    assert data[4:8] == b"ftyp"
    reader = imageio_ffmpeg.read_frames(_write(data))
    meta = next(reader)
    assert meta["size"] == (22, 18)  # odd height padded to even
    assert sum(1 for _ in reader) == 5


def _write(data: bytes) -> str:
    import tempfile

    handle, path = tempfile.mkstemp(suffix=".mp4")
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    return path


def test_construction_creates_nothing_and_validates(tmp_path):
    backend = WandbBackend(dir=tmp_path / "never", mode="offline", config={"a": 1})
    assert not (tmp_path / "never").exists()
    assert backend.config() == {
        "type": "WandbBackend",
        "project": None,
        "entity": None,
        "wandb_config": {"a": 1},
        "mode": "offline",
        "dir": str(tmp_path / "never"),
        "tags": None,
        "quiet": False,
    }
    with pytest.raises(ValueError, match="mode"):
        WandbBackend(mode="cloud")
    with pytest.raises(TypeError, match="project"):
        WandbBackend(project=1)
    with pytest.raises(TypeError, match="tags"):
        WandbBackend(tags="one-tag")
    with pytest.raises(TypeError, match="config"):
        WandbBackend(config=[("a", 1)])
    with pytest.raises(TypeError, match="quiet"):
        WandbBackend(quiet="yes")
    with pytest.raises(RuntimeError, match="not open"):
        WandbBackend().log_scalars({"a": 1.0}, 0)


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match=r"lerax\[wandb\]"):
        WandbBackend()


def test_two_runs_of_the_same_name_get_two_folders(wandb_env, tmp_path):
    """Offline folders are `offline-run-<time>-<random id>`: a shared name and second
    (in one process or in two) never make them collide."""
    template = WandbBackend(project="lerax-test", dir=tmp_path, quiet=True)

    def work():
        backends = [copy.copy(template) for _ in range(2)]
        for i, backend in enumerate(backends):
            backend.open("same")
            backend.log_scalars({"value": float(i)}, 1)
        for backend in backends:
            backend.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    runs = [read_run(d) for d in glob.glob(str(tmp_path / "wandb" / "offline-run-*"))]
    assert [run["name"] for run in runs] == ["same", "same"]
    values = sorted(row["value"] for run in runs for row in run["history"] if "value" in row)
    assert values == [0.0, 1.0]
