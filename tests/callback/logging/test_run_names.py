"""Runs never collide: unique default names, one events file per writer, two processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest
from _logging_helpers import RecordingBackend
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lerax.callback.logging import LoggingCallback, TensorBoardBackend
from lerax.callback.logging._run_names import run_stamp, writer_suffix
from lerax.callback.logging._session import session_for

NUM_ENVS, NUM_STEPS, ITERATIONS = 2, 16, 5

# One short PPO learn logging to TensorBoard as run `shared` in `log_dir`. Its backend
# opens only once every process is ready, so the writers start in the same second
# (with a timestamp-named file, the later writer would truncate the other's file).
SCRIPT = textwrap.dedent(
    f"""
    import copy, os, sys, time

    import jax.random as jr

    from lerax.algorithm import PPO
    from lerax.callback.logging import AbstractLoggingBackend, LoggingCallback
    from lerax.callback.logging import TensorBoardBackend
    from lerax.env import CartPole
    from lerax.policy import MLPActorCriticPolicy

    log_dir, ready, me, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


    class Together(AbstractLoggingBackend):
        def __init__(self, template):
            self.template = template

        def open(self, name, *, metadata=None):
            open(os.path.join(ready, me), "w").close()
            deadline = time.monotonic() + 120
            while len(os.listdir(ready)) < count and time.monotonic() < deadline:
                time.sleep(0.001)
            self.inner = copy.copy(self.template)
            self.inner.open(name, metadata=metadata)

        def log_hparams(self, hparams):
            self.inner.log_hparams(hparams)

        def log_scalars(self, scalars, step):
            self.inner.log_scalars(scalars, step)

        def log_video(self, tag, frames, step, fps):
            self.inner.log_video(tag, frames, step, fps)

        def close(self):
            self.inner.close()


    env = CartPole()
    algo = PPO(num_envs={NUM_ENVS}, num_steps={NUM_STEPS}, num_epochs=1, num_minibatches=1)
    logger = LoggingCallback(Together(TensorBoardBackend(log_dir)), name="shared")
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo.learn(env, policy, {NUM_ENVS * NUM_STEPS * ITERATIONS}, key=jr.key(int(me)),
               callback=logger)
    print(os.getpid())
    """
)


def test_default_run_names_differ_within_one_second():
    run = {"algorithm": "PPO", "env": "CartPole-v1"}
    callback = LoggingCallback(RecordingBackend())
    first, second = (session_for(callback, run).base_name for _ in range(2))
    pattern = r"PPO_CartPole-v1_\d{8}-\d{6}-[0-9a-f]{6}"
    assert re.fullmatch(pattern, first) and re.fullmatch(pattern, second)
    assert first != second
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", run_stamp())
    assert re.fullmatch(rf"\.{os.getpid()}\.[0-9a-f]{{8}}", writer_suffix())
    assert writer_suffix() != writer_suffix()


def test_each_open_writes_its_own_events_file(tmp_path):
    for value in (1.0, 2.0):  # the same run twice in the same second, one process
        backend = TensorBoardBackend(tmp_path)
        backend.open("same")
        backend.log_scalars({"x": value}, 1)
        backend.close()
    files = sorted((tmp_path / "same").iterdir())
    assert len(files) == 2
    for path in files:
        assert re.fullmatch(
            rf"events\.out\.tfevents\.\d+\..+\.{os.getpid()}\.[0-9a-f]{{8}}", path.name
        )
    values = sorted(e.value for e in _accumulate(tmp_path / "same").Scalars("x"))
    assert values == [1.0, 2.0]


def _accumulate(path) -> EventAccumulator:
    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


@pytest.mark.slow  # ~20 s of subprocesses or compilation: CI's slow stage
def test_two_processes_logging_the_same_run_lose_no_event(tmp_path):
    log_dir, ready = tmp_path / "tb", tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "COMET_ERROR_TRACKING_ENABLE": "false", "JAX_PLATFORMS": "cpu"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(log_dir), str(ready), str(i), "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    pids = sorted(int(out.split()[-1]) for out, _ in outputs)

    steps = [NUM_ENVS * NUM_STEPS * (i + 1) for i in range(ITERATIONS)]
    files = sorted((log_dir / "shared").iterdir())
    assert sorted(int(path.name.split(".")[-2]) for path in files) == pids, "one file each"
    for path in files:  # each process's file holds every one of its events
        events = _accumulate(path).Scalars("time/iteration")
        assert [(e.step, e.value) for e in events] == [
            (step, i + 1.0) for i, step in enumerate(steps)
        ]
    run = _accumulate(log_dir / "shared")  # and TensorBoard's run view shows both
    assert sorted(e.step for e in run.Scalars("time/iteration")) == sorted(steps * 2)
    assert run.PluginTagToContent("hparams")
