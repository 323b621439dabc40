"""What `lerax train` tells a person: one-line errors, the compile time, the final
summary block and the `--results` JSON."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


class UserError(Exception):
    """A mistake on the command line: printed as ONE line (`lerax: <message>`), exit
    status 2, no traceback (`--debug` shows it). The message names the problem and
    the fix."""


class CompileTimer:
    """Times JAX's compilations (tracing, lowering, XLA) while training starts.

    JAX reports each stage's duration to `jax.monitoring` listeners; this one adds
    them up and prints `compiling ... done in X s` once the first long compilation
    (the training program) has finished, so a person knows that the silence was the
    compiler. Listeners cannot be removed, so one timer is installed per process and
    `start` resets it.
    """

    _EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )
    _installed: CompileTimer | None = None

    def __init__(self):
        self.seconds = 0.0
        self.reported = True
        self.lock = threading.Lock()

    @classmethod
    def install(cls) -> CompileTimer:
        if cls._installed is None:
            import jax

            cls._installed = cls()
            jax.monitoring.register_event_duration_secs_listener(cls._installed._listen)
        return cls._installed

    def start(self) -> None:
        """Reset the total and print the `compiling ...` line."""
        with self.lock:
            self.seconds, self.reported = 0.0, False
        print("lerax: compiling the training program ...", flush=True)

    def stop(self) -> float:
        """Stop reporting (training ended); return the seconds spent compiling."""
        with self.lock:
            self.reported = True
            return self.seconds

    def _listen(self, event: str, duration: float, **kwargs: Any) -> None:
        if event not in self._EVENTS:
            return
        with self.lock:
            self.seconds += duration
            if not self.reported and event.endswith("backend_compile_duration") and duration > 1:
                self.reported = True
                print(f"lerax: compiled in {self.seconds:.1f} s; training", flush=True)


def summary_statistics(values) -> dict[str, float]:
    """mean / IQM / min / max of per-member evaluation returns."""
    from lerax.callback.logging._aggregate import interquartile_mean

    values = np.asarray(values, np.float64).ravel()
    return {
        "mean": float(values.mean()),
        "iqm": interquartile_mean(values),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def print_summary(lines: list[tuple[str, str, str]], header: str) -> None:
    """The final block: one `what  where  how to use it` row per output."""
    width = max(len(what) for what, _, _ in lines)
    place = max(len(where) for _, where, _ in lines)
    print(header)
    for what, where, how in lines:
        tail = f"  {how}" if how else ""
        print(f"  {what:<{width}}  {where:<{place}}{tail}".rstrip())
    sys.stdout.flush()


def output_lines(args, output: Path, algorithm_name: str) -> list[tuple[str, str, str]]:
    """Where each output of a run went and the command that uses it."""
    lines = [("policy", str(output), f"load: lerax.load_policy('{output}')")]
    if not args.no_db:
        lines.append(
            ("run database", str(args.db), f"plot: lerax plot --db {args.db} --output curves.png")
        )
    if args.tensorboard is not None:
        lines.append(
            ("TensorBoard", str(args.tensorboard), f"view: tensorboard --logdir {args.tensorboard}")
        )
    if args.checkpoint is not None:
        where = str(Path("checkpoints") / args.checkpoint)
        lines.append(
            (
                "checkpoints",
                where,
                f"resume: lerax train {algorithm_name} {args.env} --resume {args.checkpoint}",
            )
        )
    if args.video is not None:
        where = str(Path("checkpoints") / args.video / "videos")
        lines.append(("videos", where, "(mp4 files; also in the TensorBoard/W&B runs)"))
    return lines


def write_results(path: Path, record: dict[str, Any]) -> None:
    """`--results`: the run's summary as JSON (eval statistics added)."""
    record = {**record, **summary_statistics(record["eval_returns"])}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return np.asarray(value).tolist()
    return str(value)


def elapsed_since(start: float) -> float:
    return time.perf_counter() - start
