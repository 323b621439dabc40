"""CometBackend in offline mode, read back from the offline zip archives.

An offline archive `<key>.zip` holds `experiment.json` (key, project, tags, resume
strategy), `messages.json` (one JSON message per line: `log_other` for the name,
`parameter_msg`, `metric_msg`, `file_upload` for assets) and the uploaded files
under the names given in their `file_upload` message.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import sys
import threading
import zipfile

import numpy as np
import pytest

from lerax.callback.logging._comet import CometBackend, default_name

# `import comet_ml` (also done by `import tensorboardX` when comet_ml is installed) turns
# on Comet's Sentry error reporting in about half of the imports: keep tests offline.
os.environ["COMET_ERROR_TRACKING_ENABLE"] = "false"

METADATA = {"algorithm": "PPO", "env": "CartPole-v1", "total_timesteps": 512}

# Regression: Comet keeps one "global" experiment per process and ends it when another
# is created, so a vmapped population's first member lost its data (under load, the
# archive was empty). The fixture below opens two members side by side.


def read_archive(path: str) -> dict:
    with zipfile.ZipFile(path) as archive:
        experiment = json.loads(archive.read("experiment.json"))
        messages = [json.loads(line) for line in archive.read("messages.json").splitlines()]
        files = {name: archive.read(name) for name in archive.namelist()}
    out = {"experiment": experiment, "params": {}, "metrics": [], "uploads": [], "files": files}
    for message in messages:
        payload = message["payload"]
        if message["type"] == "log_other" and payload["key"] == "Name":
            out["name"] = payload["value"]
        elif message["type"] == "parameter_msg" and payload["param"]["source"] == "manual":
            out["params"][payload["param"]["paramName"]] = payload["param"]["paramValue"]
        elif message["type"] == "metric_msg":
            metric = payload["metric"]
            out["metrics"].append((metric["metricName"], metric["step"], metric["metricValue"]))
        elif message["type"] == "file_upload":
            out["uploads"].append(payload)
    return out


@pytest.fixture(scope="module")
def offline_runs(tmp_path_factory):
    """Two vmapped members, logged from a background thread like LoggingCallback."""
    folder = tmp_path_factory.mktemp("comet")
    template = CometBackend("lerax-test", tags=["ci"], offline=True, offline_directory=folder)
    frames = np.random.default_rng(0).integers(0, 256, (6, 24, 32, 3), dtype=np.uint8)

    def work():
        members = [copy.copy(template) for _ in range(2)]
        for i, backend in enumerate(members):
            backend.open(f"PPO_CartPole/seed_{i}", metadata={**METADATA, "member_index": (i,)})
            backend.log_hparams({"learning_rate": 0.25 * (i + 1), "algorithm": "PPO"})
            for step in (256, 512):
                backend.log_scalars({"episode/return": float(step + i)}, step)
        members[1].log_video("video/episode", frames, step=512, fps=25.0)
        for backend in members:
            backend.close()
            backend.close()  # idempotent

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    runs = [read_archive(path) for path in glob.glob(str(folder / "*.zip"))]
    return folder, sorted(runs, key=lambda run: run.get("name", ""))


def test_names_tags_params_and_metrics(offline_runs):
    _, runs = offline_runs
    assert [run["name"] for run in runs] == [
        "PPO_CartPole-v1_512steps/seed_0",
        "PPO_CartPole-v1_512steps/seed_1",
    ]
    for i, run in enumerate(runs):
        assert run["experiment"]["project_name"] == "lerax-test"
        assert set(run["experiment"]["tags"]) == {"PPO", "CartPole-v1", "ci"}
        assert run["params"] == {"learning_rate": 0.25 * (i + 1), "algorithm": "PPO"}
        returns = [(s, v) for k, s, v in run["metrics"] if k == "episode/return"]
        assert returns == [(256, 256.0 + i), (512, 512.0 + i)]
        # Nothing but what was logged (plus Comet's own bookkeeping metric).
        assert {k for k, _, _ in run["metrics"]} <= {"episode/return", "process duration"}


def test_video_asset_in_archive(offline_runs):
    _, runs = offline_runs
    assert runs[0]["uploads"] == []
    (upload,) = runs[1]["uploads"]
    assert upload["upload_type"] == "video"
    assert upload["additional_params"]["step"] == 512
    assert upload["additional_params"]["fileName"] == "video_episode_512.mp4"
    assert runs[1]["files"][upload["file_path"]][4:8] == b"ftyp"  # an MP4 container


def test_experiment_key_continues_an_experiment(offline_runs, tmp_path):
    _, runs = offline_runs
    key = runs[0]["experiment"]["offline_id"]
    backend = CometBackend(
        "lerax-test", experiment_key=key, offline=True, offline_directory=tmp_path
    )
    backend.open("PPO_CartPole", metadata={**METADATA, "member_index": ()})
    backend.log_scalars({"episode/return": 7.0}, 1024)
    backend.close()
    (path,) = glob.glob(str(tmp_path / "*.zip"))
    assert os.path.basename(path).startswith(key)
    run = read_archive(path)
    assert run["experiment"]["offline_id"] == key
    assert run["experiment"]["resume_strategy"] == "get"
    assert ("episode/return", 1024, 7.0) in run["metrics"]
    assert "name" not in run  # an existing experiment keeps its name

    member = CometBackend("p", experiment_key=key, offline=True, offline_directory=tmp_path)
    with pytest.raises(ValueError, match="experiment_key"):
        member.open("X/seed_0", metadata={"member_index": (0,)})


def test_api_key_is_required_online(monkeypatch, tmp_path):
    monkeypatch.delenv("COMET_API_KEY", raising=False)
    with pytest.raises(ValueError, match="COMET_API_KEY"):
        CometBackend("lerax-test")
    CometBackend("lerax-test", offline=True)  # offline needs no key
    monkeypatch.setenv("COMET_API_KEY", "not-a-real-key")
    monkeypatch.chdir(tmp_path)
    CometBackend("lerax-test", experiment_name="run")  # constructing talks to no server
    assert os.listdir(tmp_path) == []


def test_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="project_name"):
        CometBackend("", offline=True)
    with pytest.raises(ValueError, match="experiment_key"):
        CometBackend("p", experiment_key="short", offline=True)
    with pytest.raises(ValueError, match="offline_directory"):
        CometBackend("p", offline_directory=tmp_path)
    with pytest.raises(TypeError, match="tags"):
        CometBackend("p", tags="ci", offline=True)
    with pytest.raises(TypeError, match="offline"):
        CometBackend("p", offline="yes")
    backend = CometBackend("p", offline=True, offline_directory=tmp_path / "never")
    assert not (tmp_path / "never").exists()
    assert backend.config()["type"] == "CometBackend"
    assert backend.config()["offline_directory"] == str(tmp_path / "never")
    with pytest.raises(RuntimeError, match="not open"):
        CometBackend("p", offline=True).log_scalars({"a": 1.0}, 0)


def test_default_name():
    assert default_name(None, "run", METADATA, "") == "PPO_CartPole-v1_512steps"
    assert default_name("mine", "run", METADATA, "/seed_2") == "mine/seed_2"
    assert default_name(None, "run/seed_0", {"algorithm": "PPO"}, "/seed_0") == "run/seed_0"


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "comet_ml", None)
    with pytest.raises(ImportError, match=r"lerax\[comet\]"):
        CometBackend("p", offline=True)


def test_opening_a_member_leaves_the_other_members_alive(tmp_path):
    template = CometBackend("lerax-test", offline=True, offline_directory=tmp_path)
    members = [copy.copy(template) for _ in range(3)]
    for i, backend in enumerate(members):
        backend.open(f"run/seed_{i}", metadata={**METADATA, "member_index": (i,)})
    try:
        assert [backend.experiment.alive for backend in members] == [True, True, True]
    finally:
        for backend in members:
            backend.close()
    assert len(glob.glob(str(tmp_path / "*.zip"))) == 3


def test_two_experiments_of_the_same_name_get_two_archives(tmp_path):
    """Archives are named by each experiment's random key, never by its name or time."""
    template = CometBackend(
        "lerax-test", experiment_name="same", offline=True, offline_directory=tmp_path
    )

    def work():
        backends = [copy.copy(template) for _ in range(2)]
        for i, backend in enumerate(backends):  # the same name, in the same second
            backend.open("same", metadata=METADATA)
            backend.log_scalars({"value": float(i)}, 1)
        for backend in backends:
            backend.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    runs = [read_archive(path) for path in glob.glob(str(tmp_path / "*.zip"))]
    assert [run["name"] for run in runs] == ["same", "same"]
    values = sorted(v for run in runs for k, _, v in run["metrics"] if k == "value")
    assert values == [0.0, 1.0]
