"""ConsoleBackend: a Rich live display on a terminal, plain lines anywhere else."""

from __future__ import annotations

import copy
import io
import re
import sys

import numpy as np
import pytest

from lerax.callback.logging._console import ConsoleBackend

METADATA = {"algorithm": "PPO", "env": "CartPole-v1", "total_timesteps": 1000}


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_without_escape_codes():
    stream = io.StringIO()
    backend = ConsoleBackend(stream=stream)
    backend.open("PPO_CartPole", metadata=METADATA)
    backend.log_hparams({"learning_rate": np.float32(3e-4), "num_envs": 4})
    backend.log_scalars({"episode/return": 12.5, "loss": 0.125}, 250)
    backend.log_scalars({"episode/return": 20.0}, 500)
    backend.log_video("video/episode", np.zeros((7, 4, 4, 3), np.uint8), 500, 30.0)
    backend.close()
    backend.close()  # idempotent
    text = stream.getvalue()
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[0] == "[PPO_CartPole] hparams: learning_rate=0.0003, num_envs=4"
    assert re.fullmatch(
        r"\[PPO_CartPole\] step 250/1,000 \(25\.0%\) \| elapsed 0:00:00 \| ETA 0:00:00"
        r" \| episode/return 12\.5 \| loss 0\.125",
        lines[1],
    ), lines[1]
    # Latest values of every metric seen so far.
    assert lines[2].startswith("[PPO_CartPole] step 500/1,000 (50.0%)")
    assert lines[2].endswith("| episode/return 20 | loss 0.125")
    assert lines[3] == "[PPO_CartPole] video 'video/episode': 7 frames at step 500"
    assert len(lines) == 4


def test_terminal_gets_a_live_table_and_progress_bar():
    stream = FakeTerminal()
    backend = ConsoleBackend(stream=stream)
    backend.open("PPO_CartPole", metadata=METADATA)
    backend.log_scalars({"episode/return": 12.5}, 250)
    backend.log_scalars({"episode/return": 99.25}, 1000)
    backend.close()
    text = stream.getvalue()
    assert "\x1b" in text  # cursor control / colours
    final = text[text.rfind("episode/return") :]
    assert "99.25" in final
    assert "1000/1000" in final and "100%" in final
    assert "ETA" in text and "PPO_CartPole" in text


def test_members_share_one_terminal_display_and_plain_runs_show_the_aggregate():
    stream = FakeTerminal()
    template = ConsoleBackend(stream=stream, show_members=True)
    members = [copy.copy(template) for _ in range(2)]
    for i, backend in enumerate(members):
        backend.open(f"X/seed_{i}", metadata={**METADATA, "member_index": (i,), "num_members": 2})
        backend.log_scalars({"r": float(i + 1)}, 100 * (i + 1))
    for backend in members:
        backend.close()
    final = stream.getvalue()
    assert "X/seed_0" in final and "X/seed_1" in final

    plain = io.StringIO()
    template = ConsoleBackend(stream=plain)
    for member in [(0,), (1,), ("aggregate",)]:
        backend = copy.copy(template)
        name = "X/" + "_".join(str(m) for m in member)
        backend.open(name, metadata={**METADATA, "member_index": member, "num_members": 2})
        backend.log_scalars({"r/mean": 1.5}, 10)
        backend.close()
    assert [line.split("]")[0] for line in plain.getvalue().splitlines()] == ["[X/aggregate"]


def test_interval_throttles_and_close_prints_the_last_update():
    stream = io.StringIO()
    backend = ConsoleBackend(stream=stream, interval=3600.0)
    backend.open("r", metadata={})  # no total: no percentage, no ETA
    for step in range(5):
        backend.log_scalars({"a": float(step)}, step)
    backend.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[r] step 0 | elapsed")
    assert lines[1].startswith("[r] step 4 | elapsed") and lines[1].endswith("| a 4")


def test_keys_select_metrics_and_their_aggregates():
    stream = io.StringIO()
    backend = ConsoleBackend(stream=stream, keys=["episode/return"])
    backend.open("r", metadata={})
    backend.log_scalars(
        {"episode/return/mean": 2.0, "episode/return_max": 3.0, "loss": 1.0, "episode/return": 1.0},
        1,
    )
    backend.close()
    assert stream.getvalue().endswith("| episode/return/mean 2 | episode/return 1\n")


def test_default_stream_is_stdout_at_open(capsys):
    backend = ConsoleBackend()
    backend.open("r", metadata=METADATA)
    backend.log_scalars({"a": 1.0}, 1)
    backend.close()
    assert capsys.readouterr().out.startswith("[r] step 1/1,000")


def test_config_leaves_the_stream_out():
    config = ConsoleBackend(stream=io.StringIO(), keys=["loss"]).config()
    assert config == {
        "type": "ConsoleBackend",
        "show_members": False,
        "interval": 0.0,
        "keys": ("loss",),
    }


def test_argument_errors():
    with pytest.raises(TypeError, match="stream"):
        ConsoleBackend(stream="stdout")
    with pytest.raises(TypeError, match="show_members"):
        ConsoleBackend(show_members=1)
    with pytest.raises(ValueError, match="interval"):
        ConsoleBackend(interval=-1)
    with pytest.raises(TypeError, match="keys"):
        ConsoleBackend(keys="loss")
    with pytest.raises(RuntimeError, match="not open"):
        ConsoleBackend().log_scalars({"a": 1.0}, 0)


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "rich", None)
    with pytest.raises(ImportError, match=r"lerax\[rich\]"):
        ConsoleBackend()
