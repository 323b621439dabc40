"""Plot the benchmark tables of benchmarks/README.md as PNGs for the docs' Performance page.

    python benchmarks/plot_tables.py                      # writes docs/img/bench-*.png
    python benchmarks/plot_tables.py --output-dir /tmp/x

The numbers are read from the markdown tables of benchmarks/README.md (found by their
header row, so the order of the sections does not matter); nothing is measured here.
A table that is missing is reported and its plot skipped. Needs matplotlib (extra
`plot`).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
OUTPUT_DIR = HERE.parent / "docs" / "img"
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def parse_tables(text: str) -> list[list[list[str]]]:
    """Every markdown table of `text`: a list of rows, each a list of cell strings
    (header first, the `|---|` separator dropped)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def numbers(cell: str) -> list[float]:
    """The numbers in a cell: `"2,607,677"` -> [2607677.0], `"240, 265"` -> [240.0, 265.0]."""
    found = re.findall(r"-?\d+(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?", cell)
    return [float(n.replace(",", "")) for n in found]


def find_table(tables, *header_words: str):
    """The first table whose header row contains every one of `header_words`."""
    for table in tables:
        header = " ".join(table[0]).lower()
        if all(word.lower() in header for word in header_words):
            return table
    return None


def _figure(width=8.0, height=4.5):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    return figure, figure.add_subplot()


def plot_throughput(table, output: Path) -> None:
    header = table[0]
    envs = [int(numbers(h)[0]) for h in header[1:]]
    figure, axes = _figure()
    for row in table[1:]:
        values = [numbers(c)[0] for c in row[1:]]
        style = "--" if row[0].lower().startswith("gymnax") else "-"
        axes.plot(envs, values, style, marker="o", label=row[0])
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xticks(envs, [str(e) for e in envs])
    axes.set_xlabel("vectorised envs")
    axes.set_ylabel("env steps per second")
    axes.set_title("Environment throughput (random rollouts, after compilation)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(output)


def plot_ppo(table, output: Path) -> None:
    header = [h.lower() for h in table[0]]
    first = next(i for i, h in enumerate(header) if h.startswith("first call"))
    steady = next(i for i, h in enumerate(header) if h.startswith("steady state"))
    labels = [row[0] for row in table[1:]]
    firsts = [numbers(row[first])[0] for row in table[1:]]
    starred = ["*" in row[first] for row in table[1:]]
    steadies = [numbers(row[steady])[0] for row in table[1:]]
    figure = _figure(9.0, 4.5)[0]
    figure.clear()
    left, right = figure.subplots(1, 2)
    positions = list(range(len(labels)))
    short = [_wrap(label.replace("`", "")) for label in labels]
    right.barh(positions, steadies, color="tab:blue")
    right.set_title("steady state, s per 2**17 steps")
    left.barh(positions, firsts, color="tab:orange")
    left.set_title("first call (compile + run), s")
    for axes, values in ((left, firsts), (right, steadies)):
        axes.set_yticks(positions, short if axes is left else [""] * len(short))
        axes.invert_yaxis()
        axes.grid(True, axis="x", alpha=0.3)
        marks = starred if axes is left else [False] * len(values)
        for y, value, mark in zip(positions, values, marks, strict=True):
            axes.annotate(
                f"{value:.2f}*" if mark else f"{value:.2f}",
                (value, y),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize="small",
            )
        axes.set_xlim(0, max(values) * 1.25)
    figure.suptitle("PPO on CartPole, 4 envs x 128 steps, CPU")
    if any(starred):
        figure.text(
            0.01,
            0.01,
            "* warm caches from the process's first program: not a compile time",
            fontsize="small",
        )
    figure.tight_layout()
    figure.savefig(output)


def plot_overheads(tables: list[tuple[str, list[list[str]]]], output: Path) -> None:
    """Ratios to plain training. A table is either `| case | ratio... |` columns (one bar
    group per case, one bar per measurement column) or `| session | load | ratio |` rows
    (one bar per session)."""
    bars: list[tuple[str, list[tuple[str, float]]]] = []
    for prefix, table in tables:
        header = table[0]
        if header[-1].lower() == "ratio":  # one measurement per row
            values = [(f"{r[0]} (load {r[1]})", numbers(r[-1])[0]) for r in table[1:]]
            bars.append((f"{prefix}: ratio", values))
        else:
            for row in table[1:]:
                values = [(h, numbers(c)[0]) for h, c in zip(header[1:], row[1:], strict=True)]
                bars.append((f"{prefix}: {row[0]}", values))
    count = sum(len(v) for _, v in bars)
    figure, axes = _figure(9.0, 1.2 + 0.32 * count + 0.25 * len(bars))
    y, ticks, labels, largest = 0.0, [], [], 0.0
    for group, values in bars:
        for label, value in values:
            axes.barh(y, value, color="tab:purple", height=0.8)
            axes.annotate(
                f"{value:.2f}x",
                (value, y),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize="small",
            )
            ticks.append(y)
            labels.append(_wrap(f"{group.replace('`', '')} | {label.replace('`', '')}", 60))
            largest = max(largest, value)
            y += 1
        y += 0.6
    axes.axvline(1.0, color="black", linewidth=1)
    axes.set_yticks(ticks, labels, fontsize="small")
    axes.invert_yaxis()
    axes.set_xlim(0, largest * 1.2)
    axes.set_xlabel("wall time relative to the same training without callbacks")
    axes.set_title("Callback overhead (each bar: one measurement session)")
    axes.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(output)


def plot_crossing(table, output: Path) -> None:
    labels = [_wrap(row[0].replace("`", ""), 26) for row in table[1:]]
    thunk = [numbers(row[1]) for row in table[1:]]
    legacy = [numbers(row[2]) for row in table[1:]]
    figure, axes = _figure()
    width = 0.38
    for offset, runs, name in (
        (-width / 2, thunk, "thunk runtime (default)"),
        (width / 2, legacy, "legacy runtime"),
    ):
        x = [i + offset for i in range(len(labels))]
        means = [sum(r) / len(r) for r in runs]
        errors = [
            [m - min(r) for m, r in zip(means, runs, strict=True)],
            [max(r) - m for m, r in zip(means, runs, strict=True)],
        ]
        axes.bar(x, means, width, yerr=errors, capsize=3, label=name)
    axes.set_xticks(range(len(labels)), labels)
    axes.set_ylabel("ms per 64 PPO iterations")
    axes.set_title("Cost of a host callback (mean of two runs; bars: both runs)")
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(output)


def plot_scaling(table, output: Path) -> None:
    """Steps per second against seeds; one bar series per `CPU devices` value."""
    header = [h.lower() for h in table[0]]
    rate = next(i for i, h in enumerate(header) if h.startswith("steps/s"))
    group = next((i for i, h in enumerate(header) if "devices" in h), None)
    series: dict[str, dict[int, float]] = {}
    for row in table[1:]:
        values = numbers(row[rate])
        if values:
            label = row[group] if group is not None else "1"
            series.setdefault(label, {})[int(numbers(row[0])[0])] = values[0]
    seeds = sorted({n for rows in series.values() for n in rows})
    figure, axes = _figure()
    width = 0.8 / len(series)
    for g, (label, rows) in enumerate(series.items()):
        shift = (g - (len(series) - 1) / 2) * width
        positions = [i + shift for i, n in enumerate(seeds) if n in rows]
        values = [rows[n] for n in seeds if n in rows]
        axes.bar(positions, values, width, label=f"CPU devices: {label}")
        for x, value in zip(positions, values, strict=True):
            axes.annotate(
                f"{value / 1000:,.0f}k", (x, value), xytext=(0, 3), textcoords="offset points",
                ha="center", fontsize="small",
            )  # fmt: skip
    axes.set_xticks(range(len(seeds)), [f"{n} seed{'s' if n > 1 else ''}" for n in seeds])
    axes.set_ylabel("env steps per second, all seeds together")
    axes.set_title("PPO on CartPole under jax.vmap over seeds, 2-core CPU")
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(output)


def plot_algorithms(tables, output: Path) -> None:
    """One panel per table (`| implementation | ... | CPU s per call | ... |`): process
    CPU seconds per call, the figure least disturbed by the machine's load."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.0, 1.2 + 0.6 * sum(len(t) for t in tables)), dpi=100)
    axes_list = figure.subplots(len(tables), 1, squeeze=False)[:, 0]
    for axes, table in zip(axes_list, tables, strict=True):
        header = [h.lower() for h in table[0]]
        cpu = next(i for i, h in enumerate(header) if h.startswith("cpu s"))
        rows = [(row[0], numbers(row[cpu])[0]) for row in table[1:] if numbers(row[cpu])]
        values = [v for _, v in rows]
        positions = list(range(len(rows)))
        axes.barh(positions, values, color="tab:cyan")
        log = max(values) / min(values) > 5
        if log:
            axes.set_xscale("log")
            axes.set_xlim(min(values) / 2, max(values) * 2)
        else:
            axes.set_xlim(0, max(values) * 1.2)
        axes.set_yticks(positions, [_wrap(label.replace("`", ""), 34) for label, _ in rows])
        axes.invert_yaxis()
        for y, value in zip(positions, values, strict=True):
            axes.annotate(
                f"{value:g}", (value, y), xytext=(3, 0), textcoords="offset points", va="center"
            )
        name = table[1][0].split()[-1]  # "lerax DQN" -> "DQN"
        scale = " (log scale)" if log else ""
        axes.set_title(f"{name}: process CPU s per call{scale}")
        axes.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(output)


def _wrap(text: str, width: int = 30) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print('plot_tables.py needs matplotlib: pip install "lerax[plot]"', file=sys.stderr)
        return 1
    tables = parse_tables(args.readme.read_text())
    args.output_dir.mkdir(parents=True, exist_ok=True)
    plots = {
        "bench-env-throughput.png": (plot_throughput, find_table(tables, "env", "1024 envs")),
        "bench-ppo.png": (
            plot_ppo,
            find_table(tables, "implementation", "steady state (s)", "steps/s"),
        ),
        "bench-crossing-cost.png": (
            plot_crossing,
            find_table(tables, "placement of the io_callback"),
        ),
        "bench-scaling.png": (
            plot_scaling,
            find_table(tables, "seeds", "host calls per log event"),
        ),
    }
    overheads = [
        ("logging", find_table(tables, "case", "session")),
        ("control", find_table(tables, "session", "load", "ratio")),
    ]
    written, missing = [], []
    for name, (function, table) in plots.items():
        if table is None:
            missing.append(name)
            continue
        function(table, args.output_dir / name)
        written.append(name)
    algorithms = [t for t in tables if "greedy return after" in " ".join(t[0]).lower()]
    if algorithms:
        plot_algorithms(algorithms, args.output_dir / "bench-algorithms.png")
        written.append("bench-algorithms.png")
    else:
        missing.append("bench-algorithms.png")
    present = [(prefix, table) for prefix, table in overheads if table is not None]
    if present:
        plot_overheads(present, args.output_dir / "bench-overhead.png")
        written.append("bench-overhead.png")
    else:
        missing.append("bench-overhead.png")
    for name in written:
        print(f"wrote {args.output_dir / name}")
    for name in missing:
        print(f"skipped {name}: its table is not in {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
