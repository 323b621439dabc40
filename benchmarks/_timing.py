"""Small helpers to time jitted JAX callables, shared by the benchmark scripts.

* first call  -- compile + one run, through a *fresh* ``jax.jit`` of a fresh wrapper
  function, so JAX's in-memory tracing/lowering caches cannot be hit (the persistent
  on-disk compilation cache is off unless ``jax_compilation_cache_dir`` is set; we warn).
* steady state -- median (and min/max) of ``repeats`` calls after ``warmup`` calls,
  every call ending in ``jax.block_until_ready``.
* peak RSS -- ``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the *process-wide* peak so
  far, so it only isolates one benchmark when that benchmark runs in its own process
  (``ppo_baselines.py`` does that by default).
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import jax
import numpy as np


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB."""
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return ru / (1024 * 1024) if sys.platform == "darwin" else ru / 1024  # bytes vs KiB


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all threads), in seconds."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def fresh_jit(fn: Callable, **jit_kwargs) -> Callable:
    """``jax.jit`` of a new wrapper around ``fn``: its first call always traces and compiles."""

    def wrapper(*args, **kwargs):  # a new function object -> no cache hits
        return fn(*args, **kwargs)

    return jax.jit(wrapper, **jit_kwargs)


def interleaved_times(fns: dict[str, Callable], rounds: int) -> dict[str, list[float]]:
    """Wall seconds of ``fns[name](jax.random.key(r + 1))`` for ``r < rounds``.

    Every function is called once first (compilation, not timed). Then each round calls
    every function once, in the given order on odd rounds and reversed on even ones,
    so that a drift in the machine's load falls on all of them alike.
    """
    for fn in fns.values():
        jax.block_until_ready(fn(jax.random.key(0)))
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names if r % 2 else names[::-1]:
            start = time.perf_counter()
            jax.block_until_ready(fns[name](jax.random.key(r + 1)))
            times[name].append(time.perf_counter() - start)
    return times


def ratio_interval(
    numerator: list[float], denominator: list[float], *, level: float = 0.95, draws: int = 4000
) -> tuple[float, float, float]:
    """The median of the per-round ratios ``numerator[r] / denominator[r]`` and a
    bootstrap interval of it (rounds resampled with replacement, fixed seed).

    Returns:
        ``(median, low, high)``: ``low``/``high`` bound the central ``level`` share of
        the resampled medians.
    """
    ratios = np.asarray(numerator) / np.asarray(denominator)
    rng = np.random.default_rng(0)
    resampled = np.median(rng.choice(ratios, size=(draws, ratios.size)), axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(resampled, [tail, 1 - tail])
    return float(np.median(ratios)), float(low), float(high)


def ratio_cell(numerator: list[float], denominator: list[float]) -> str:
    """`ratio_interval` as a table cell: ``"1.041 (1.034-1.065)"``."""
    return "{:.3f} ({:.3f}-{:.3f})".format(*ratio_interval(numerator, denominator))


def print_ratio_table(
    times: dict[str, list[float]], rounds: int, *, iterations: int | None = None
) -> None:
    """Print `interleaved_times`' result as a markdown table: median seconds and ratio
    to the "plain" case, and with `iterations` the extra microseconds per iteration."""
    base = np.median(times["plain"])
    print(f"JAX {jax.__version__}, {os.cpu_count()} CPUs, median of {rounds} interleaved rounds")
    extra = " extra per iteration (us) |" if iterations else ""
    print(f"\n| case | median (s) | ratio to plain |{extra}")
    print("|---|---|---|" + ("---|" if iterations else ""))
    for name, t in times.items():
        row = f"| {name} | {np.median(t):.3f} | {np.median(t) / base:.3f} |"
        if iterations:
            row += f" {(np.median(t) - base) / iterations * 1e6:.0f} |"
        print(row)


def time_first_call(fn: Callable, *args, jit_kwargs: dict | None = None, **kwargs):
    """Time ``jax.jit(fn)(*args)`` on a fresh jit: tracing + compilation + one run.

    Returns ``(seconds, output)``.
    """
    if jax.config.jax_compilation_cache_dir:
        warnings.warn(
            "persistent compilation cache is on: first-call time may be a cache hit", stacklevel=2
        )
    jitted = fresh_jit(fn, **(jit_kwargs or {}))
    t0 = time.perf_counter()
    out = jax.block_until_ready(jitted(*args, **kwargs))
    return time.perf_counter() - t0, out


def time_compile(fn: Callable, *args, jit_kwargs: dict | None = None, **kwargs) -> dict:
    """Ahead-of-time split of the first call: ``{"lower_s", "compile_s"}`` (fresh jit)."""
    jitted = fresh_jit(fn, **(jit_kwargs or {}))
    t0 = time.perf_counter()
    lowered = jitted.lower(*args, **kwargs)
    t1 = time.perf_counter()
    lowered.compile()
    t2 = time.perf_counter()
    return {"lower_s": t1 - t0, "compile_s": t2 - t1}


def time_steady(
    jitted: Callable, *args, warmup: int = 1, repeats: int = 5, **kwargs
) -> dict[str, Any]:
    """Run an already-jitted callable ``warmup`` times, then time ``repeats`` calls.

    Returns ``{"median_s", "min_s", "max_s", "times_s", "cpu_median_s", "output"}``
    (wall-clock times; ``cpu_median_s`` is the median process CPU time per call, which
    background load disturbs much less than wall time; last output).
    """
    out = None
    for _ in range(warmup):
        out = jax.block_until_ready(jitted(*args, **kwargs))
    times, cpu = [], []
    for _ in range(repeats):
        c0, t0 = cpu_seconds(), time.perf_counter()
        out = jax.block_until_ready(jitted(*args, **kwargs))
        times.append(time.perf_counter() - t0)
        cpu.append(cpu_seconds() - c0)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "times_s": times,
        "cpu_median_s": statistics.median(cpu),
        "output": out,
    }


@dataclass
class BenchResult:
    name: str
    first_call_s: float
    steady_s: float  # median
    steady_min_s: float
    steady_max_s: float
    steps: int  # environment steps per call (0 if not applicable)
    peak_rss_mib: float
    steady_cpu_s: float = float("nan")  # median process CPU seconds per call
    extra: dict = field(default_factory=dict)

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.steady_s if self.steps and self.steady_s > 0 else float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "steps_per_s": self.steps_per_s}


def benchmark(
    name: str,
    fn: Callable,
    *args,
    steps: int = 0,
    warmup: int = 1,
    repeats: int = 5,
    jit_kwargs: dict | None = None,
    **kwargs,
) -> tuple[BenchResult, Any]:
    """First-call time (fresh jit), then steady state on that same compiled function.

    ``fn`` is the *un-jitted* callable. Returns ``(BenchResult, last_output)``.
    """
    jitted = fresh_jit(fn, **(jit_kwargs or {}))
    t0 = time.perf_counter()
    jax.block_until_ready(jitted(*args, **kwargs))
    first = time.perf_counter() - t0
    st = time_steady(jitted, *args, warmup=warmup, repeats=repeats, **kwargs)
    res = BenchResult(
        name=name,
        first_call_s=first,
        steady_s=st["median_s"],
        steady_min_s=st["min_s"],
        steady_max_s=st["max_s"],
        steady_cpu_s=st["cpu_median_s"],
        steps=steps,
        peak_rss_mib=peak_rss_mib(),
    )
    return res, st["output"]


def markdown_table(results: list[BenchResult], extra_cols: tuple[str, ...] = ()) -> str:
    head = [
        "method",
        "first call (s)",
        "steady (s): median (min-max)",
        "steps/s (median)",
        "CPU s/call (median)",
        "peak RSS (MiB)",
    ]
    head += list(extra_cols)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        row = [
            r.name,
            f"{r.first_call_s:.2f}",
            f"{r.steady_s:.4g} ({r.steady_min_s:.4g}-{r.steady_max_s:.4g})",
            f"{r.steps_per_s:,.0f}",
            f"{r.steady_cpu_s:.4g}",
            f"{r.peak_rss_mib:.0f}",
        ]
        row += [str(r.extra.get(c, "")) for c in extra_cols]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
