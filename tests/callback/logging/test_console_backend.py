"""ConsoleBackend: a Rich live display on a terminal, plain lines anywhere else."""

from __future__ import annotations

import copy
import io
import re
import sys

import numpy as np
import pytest

from lerax.callback.logging import _console
from lerax.callback.logging._console import ConsoleBackend

METADATA = {"algorithm": "PPO", "env": "CartPole-v1", "total_timesteps": 1000}


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_without_escape_codes():
    stream = io.StringIO()
    backend = ConsoleBackend(stream=stream, interval=0.0)
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


def _population(stream, members, metrics, **kwargs):
    """`members` member runs and their aggregate on one stream: member i logs
    `episode/return_mean` = 10 * i + step / 1000, the aggregate every statistic."""
    template = ConsoleBackend(stream=stream, **kwargs)
    runs = []
    for member in [*((i,) for i in range(members)), ("aggregate",)]:
        backend = copy.copy(template)
        name = "X/" + ("aggregate" if member == ("aggregate",) else f"seed_{member[0]}")
        meta = {**METADATA, "member_index": member, "num_members": members}
        backend.open(name, metadata=meta)
        runs.append(backend)
    for step in (500, 1000):
        for i, backend in enumerate(runs[:-1]):
            backend.log_scalars({m: float(10 * i + step / 1000) for m in metrics}, step)
        statistics = ("mean", "min", "max", "iqm")  # logged as 1, 2, 3, 4
        runs[-1].log_scalars(
            {f"{m}/{s}": 1.0 + j for m in metrics for j, s in enumerate(statistics)}, step
        )
    for backend in runs:
        backend.close()
    return stream.getvalue()


def test_a_population_on_a_terminal_fits_max_lines_with_best_and_worst():
    metrics = ["episode/return_mean"] + [f"train/m{i:02d}" for i in range(30)]
    text = _population(FakeTerminal(), 4, metrics)
    final = text[text.rfind("\x1b[2K") + len("\x1b[2K") :]  # the last frame drawn
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", final).rstrip("\n").splitlines()
    assert len(lines) == 24
    header = lines[0].split()
    assert [h for h in header if h.isalpha()] == ["metric", "mean", "IQM", "min", "max"]
    # One row per metric, the return first, its statistics in the header's order.
    assert lines[2].split() == ["episode/return_mean", "│", "1", "│", "4", "│", "2", "│", "3"]
    assert "(12 more metrics" in lines[-3]
    assert lines[-2] == "X/aggregate: best X/seed_3 31 | worst X/seed_0 1"
    assert lines[-1].startswith("X/aggregate") and "1000/1000" in lines[-1]
    # No member has a progress bar or a column of its own.
    everything = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "\n", text).splitlines()
    assert not any(line.startswith("X/seed") for line in everything)
    assert "seed_1" not in text


def test_max_lines_bounds_a_single_run_too():
    stream = FakeTerminal()
    backend = ConsoleBackend(stream=stream, max_lines=6)
    backend.open("r", metadata=METADATA)
    backend.log_scalars({f"m{i}": float(i) for i in range(10)}, 1000)
    backend.close()
    text = stream.getvalue()
    final = text[text.rfind("\x1b[2K") + len("\x1b[2K") :]
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", final).rstrip("\n").splitlines()
    assert len(lines) == 6
    assert [line.split()[0] for line in lines[2:4]] == ["m0", "m1"]
    assert lines[4] == "(8 more metrics: see the run database or TensorBoard)"


def test_plain_aggregate_lines_name_the_best_and_worst_member():
    text = _population(io.StringIO(), 3, ["episode/return_mean"])
    lines = text.splitlines()
    assert all(line.startswith("[X/aggregate]") for line in lines)
    assert "| best X/seed_2 21 | worst X/seed_0 1 |" in lines[-1]


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


def test_plain_lines_are_paced_by_time_by_default():
    """Not a terminal: the first update and the last (at close) are shown, and the
    ones in between only when `PLAIN_INTERVAL` seconds have passed."""
    stream = io.StringIO()
    backend = ConsoleBackend(stream=stream)
    backend.open("r", metadata=METADATA)
    for step in range(1, 101):
        backend.log_scalars({"episode/return": float(step), "loss": 1.0 / step}, step * 10)
    backend.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("[r] step 10/1,000 (1.0%)")
    assert lines[0].endswith("| episode/return 1 | loss 1")
    assert lines[1].startswith("[r] step 1,000/1,000 (100.0%)")
    assert lines[1].endswith("| episode/return 100 | loss 0.01")


def test_the_live_display_is_paced_by_time_by_default(monkeypatch):
    """On a terminal the default pacing is `TERMINAL_INTERVAL` (0.1 s): ten events
    logged within a few milliseconds draw the first and, at close, the last."""
    drawn, show = [], _console._Run._show

    def record(run, now, final=False):
        drawn.append((run.step, final))
        show(run, now, final)

    monkeypatch.setattr(_console._Run, "_show", record)
    backend = ConsoleBackend(stream=FakeTerminal())
    backend.open("r", metadata=METADATA)
    for step in range(1, 11):
        backend.log_scalars({"episode/return": float(step)}, step)
    backend.close()
    assert drawn[0] == (1, False) and drawn[-1] == (10, True)
    assert len(drawn) <= 4, drawn  # 10 with interval=0.0


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
        "interval": None,
        "keys": ("loss",),
        "max_lines": 24,
        "rank_by": "episode/return_mean",
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
    with pytest.raises(ValueError, match="max_lines"):
        ConsoleBackend(max_lines=3)
    with pytest.raises(TypeError, match="max_lines"):
        ConsoleBackend(max_lines=24.0)
    with pytest.raises(TypeError, match="rank_by"):
        ConsoleBackend(rank_by=None)
    with pytest.raises(RuntimeError, match="not open"):
        ConsoleBackend().log_scalars({"a": 1.0}, 0)


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "rich", None)
    with pytest.raises(ImportError, match=r"lerax\[rich\]"):
        ConsoleBackend()
