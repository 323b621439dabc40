"""`jax.distributed` with 2 local CPU processes (gloo collectives): seeds sharded across
the processes, and only process 0 receives host calls, so only it writes logs and
checkpoints (the crossing runs on device 0, which process 0 owns)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from lerax.callback.logging import list_runs, load_metrics

WORKER = Path(__file__).with_name("_multihost_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_only_process_zero_writes(tmp_path):
    port = str(_free_port())
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # 1 device per process
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(pid), port, str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for pid in (0, 1)
    ]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    failed = [
        f"process {pid} exited with {p.returncode}:\n{out[-3000:]}"
        for pid, (p, out) in enumerate(zip(procs, outputs, strict=True))
        if p.returncode != 0
    ]
    assert not failed, "\n\n".join(failed)  # both processes' output: one may have died first
    # Process 0 receives the (batched) log crossings: between 1 and one per iteration.
    calls = int(re.search(r"process 0: log host calls (\d+)", outputs[0]).group(1))
    assert 1 <= calls <= 4
    assert "process 1: log host calls 0" in outputs[1]
    written = os.listdir(tmp_path)
    assert "ckpt0" in written and "runs0.db" in written
    assert not [name for name in written if name.startswith(("ckpt1", "runs1"))], written
    db = tmp_path / "runs0.db"
    assert {run["name"] for run in list_runs(db)} == {"mh/seed_0", "mh/seed_1", "mh/aggregate"}
    for member in ("seed_0", "seed_1"):  # seed_1 trained on process 1's device
        steps, _ = load_metrics(db, f"mh/{member}", ["time/timesteps"])["time/timesteps"]
        assert list(steps) == [32, 64, 96, 128]
        assert (tmp_path / "ckpt0" / member / "saves" / "CartPole_final").is_dir()
