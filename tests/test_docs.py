"""Every code block of the documentation runs, so the docs cannot rot.

Which blocks run (the rule, also stated in docs/index.md, "How these docs are tested"):

* Pages: every `docs/**/*.md` and the top-level `README.md`.
* ```python blocks: ALL of them run. The blocks of one page run in order, in one fresh
  namespace, in a subprocess of their own whose working directory is a new temporary
  directory (so a page may write relative paths). A page fails on the first exception;
  the traceback points at the line in the markdown file. There is no opt-out: code that
  must not run is not Python for the docs (write it as ```text).
* ```bash blocks run ONLY when the line just before the opening fence is the marker
  `<!-- docs-test: run -->` (invisible in the rendered site). A marked block runs with
  `bash -euo pipefail` in the page's temporary directory, with this interpreter's
  `bin/` first on PATH (so `lerax` and `python` are the ones under test); it must
  finish quickly, so marked blocks use small budgets.
* Unmarked ```bash blocks (install commands, long runs, `tensorboard --logdir`) do not
  run. Their `lerax ...` commands are still parsed by the command line's own
  argument parser, so a renamed or removed option fails here.
* Other fences (```text, ```console, untagged) are never run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_MARKER = "<!-- docs-test: run -->"
PAGE_TIMEOUT_S = 900
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a markdown page."""

    language: str
    code: str
    line: int  # 1-based line of the first code line in the markdown file
    marked: bool  # the line before the opening fence is RUN_MARKER


def doc_pages() -> list[Path]:
    """The markdown pages whose blocks are tested."""
    pages = sorted((ROOT / "docs").rglob("*.md"))
    return [*pages, ROOT / "README.md"]


def extract_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a markdown text, in order.

    Fences may be indented (inside admonitions or list items); the indentation of the
    opening fence is removed from every line of the block.
    """
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence = match["indent"], match["fence"]
        language = (match["info"].strip().split() or [""])[0].lower()
        marked = i > 0 and lines[i - 1].strip() == RUN_MARKER
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            closing = _FENCE.match(lines[j])
            if closing and closing["fence"].startswith(fence) and not closing["info"].strip():
                break
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        else:
            raise ValueError(f"unclosed code fence opened on line {i + 1}")
        blocks.append(Block(language, textwrap.dedent("\n".join(body)), i + 2, marked))
        i = j + 1
    return blocks


def _relative(page: Path) -> str:
    return str(page.relative_to(ROOT))


_PAGES = doc_pages()
_PYTHON_PAGES = [
    p for p in _PAGES if any(b.language == "python" for b in extract_blocks(p.read_text()))
]

# Runs the blocks of one page in one namespace; each block is compiled with the page's
# path and padded with blank lines, so tracebacks name the markdown line.
_DRIVER = """
import sys
path, blocks = sys.argv[1], eval(open(sys.argv[2]).read())
namespace = {"__name__": "__main__"}
for line, code in blocks:
    print(f"--- {path}:{line}", flush=True)
    exec(compile("\\n" * (line - 1) + code, path, "exec"), namespace)
"""


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("WANDB_MODE", "offline")
    env.setdefault("WANDB_SILENT", "true")
    env.setdefault("WANDB_ERROR_REPORTING", "false")
    env.setdefault("COMET_ERROR_TRACKING_ENABLE", "false")
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed (exit code {result.returncode})\n"
            f"--- stdout (tail) ---\n{result.stdout[-6000:]}\n"
            f"--- stderr (tail) ---\n{result.stderr[-6000:]}",
            pytrace=False,
        )


@pytest.mark.parametrize("page", _PYTHON_PAGES, ids=_relative)
def test_python_blocks_run(page: Path, tmp_path: Path):
    blocks = [(b.line, b.code) for b in extract_blocks(page.read_text()) if b.language == "python"]
    (tmp_path / "blocks.repr").write_text(repr(blocks))
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(page), str(tmp_path / "blocks.repr")],
        cwd=work,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT_S,
    )
    _check(result, f"the python blocks of {_relative(page)}")


_MARKED = [
    (page, block)
    for page in _PAGES
    for block in extract_blocks(page.read_text())
    if block.language in ("bash", "sh", "shell") and block.marked
]


@pytest.mark.parametrize(
    ("page", "block"), _MARKED, ids=[f"{_relative(p)}:{b.line}" for p, b in _MARKED]
)
def test_marked_bash_blocks_run(page: Path, block: Block, tmp_path: Path):
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.code],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT_S,
    )
    _check(result, f"the bash block at {_relative(page)}:{block.line}")


def lerax_commands(code: str) -> list[list[str]]:
    """The `lerax ...` command lines of a bash block, as argument lists.

    Continuation lines are joined, comments dropped, and `&&`, `||`, `;` and `|`
    separate commands.
    """
    joined = re.sub(r"\\\n", " ", code)
    commands = []
    for line in joined.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for token in [*lexer, ";"]:
            if token in ("&&", "||", ";", "|", "&"):
                if words and words[0] == "lerax":
                    commands.append(words[1:])
                words = []
            else:
                words.append(token)
    return commands


_UNMARKED_COMMANDS = [
    (page, block.line, argv)
    for page in _PAGES
    for block in extract_blocks(page.read_text())
    if block.language in ("bash", "sh", "shell") and not block.marked
    for argv in lerax_commands(block.code)
]


@pytest.mark.parametrize(
    ("page", "line", "argv"),
    _UNMARKED_COMMANDS,
    ids=[f"{_relative(p)}:{n}:{' '.join(a[:2])}" for p, n, a in _UNMARKED_COMMANDS],
)
def test_unmarked_lerax_commands_parse(page: Path, line: int, argv: list[str]):
    from lerax.cli import build_parser

    try:
        build_parser().parse_args(argv)
    except SystemExit as error:
        pytest.fail(f"{_relative(page)}:{line}: `lerax {shlex.join(argv)}` does not parse: {error}")


def test_extract_blocks_handles_indentation_markers_and_languages():
    text = "\n".join(
        [
            "intro",
            "```python",
            "x = 1",
            "```",
            RUN_MARKER,
            "```bash",
            "lerax train ppo CartPole --timesteps 8 && echo ok",
            "```",
            "!!! note",
            "    ```python",
            "    if x:",
            "        y = 2",
            "    ```",
            "```text",
            "not code",
            "```",
        ]
    )
    blocks = extract_blocks(text)
    assert [(b.language, b.line, b.marked) for b in blocks] == [
        ("python", 3, False),
        ("bash", 7, True),
        ("python", 11, False),
        ("text", 15, False),
    ]
    assert blocks[2].code == "if x:\n    y = 2"
    assert lerax_commands(blocks[1].code) == [["train", "ppo", "CartPole", "--timesteps", "8"]]
    assert lerax_commands("cd x\nlerax a \\\n  --b 1  # note\npip install lerax") == [
        ["a", "--b", "1"]
    ]


def test_every_docs_page_is_in_the_site_navigation():
    """Every markdown page under docs/ is reachable from mkdocs.yml's nav."""
    nav = (ROOT / "mkdocs.yml").read_text()
    missing = [
        str(p.relative_to(ROOT / "docs"))
        for p in sorted((ROOT / "docs").rglob("*.md"))
        if str(p.relative_to(ROOT / "docs")) not in nav
    ]
    assert missing == []


def _plot_tables():
    """benchmarks/plot_tables.py, imported by path (benchmarks/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "plot_tables", ROOT / "benchmarks" / "plot_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_performance_page_tables_are_the_benchmark_readme_tables():
    """Every table on docs/performance.md appears, row for row, in benchmarks/README.md,
    so the docs never show numbers the benchmarks no longer report."""
    plot_tables = _plot_tables()
    readme = plot_tables.parse_tables((ROOT / "benchmarks" / "README.md").read_text())
    page = plot_tables.parse_tables((ROOT / "docs" / "performance.md").read_text())
    assert len(page) >= 4
    for table in page:
        assert table in readme, f"docs/performance.md table not in benchmarks/README.md: {table[0]}"


def test_benchmark_plots_are_drawn_from_the_readme(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    plot_tables = _plot_tables()
    assert plot_tables.numbers("2,607,677") == [2607677.0]
    assert plot_tables.numbers("240, 265") == [240.0, 265.0]
    assert plot_tables.numbers("3.99*") == [3.99]
    assert plot_tables.main(["--output-dir", str(tmp_path)]) == 0
    written = {p.name for p in tmp_path.iterdir()}
    page = (ROOT / "docs" / "performance.md").read_text()
    shown = set(re.findall(r"img/(bench-[\w-]+\.png)", page))
    assert len(shown) >= 4 and shown <= written  # every plot on the page is drawn ...
    for name in written:
        with Image.open(tmp_path / name) as image:
            image.load()
            assert image.width > 100 and image.height > 100
    for name in shown:  # ... and its committed copy exists
        assert (ROOT / "docs" / "img" / name).is_file()


def _api_hook():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "api_pages", ROOT / "docs" / "_hooks" / "api_pages.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_pages_list_every_public_name():
    """The API pages expand to one mkdocstrings directive per exported name, each name
    documented once: re-exports appear only on their home package's page."""
    hook = _api_hook()
    expanded = hook.expand("<!-- api-members: lerax.callback exclude=lerax.callback.logging -->")
    assert "::: lerax.callback.EarlyStopping" in expanded
    assert "::: lerax.callback.AbstractStepCallback" in expanded
    assert "LoggingCallback" not in expanded  # documented on the lerax.callback.logging page
    assert "evaluate_policy" not in hook.expand("<!-- api-members: lerax.algorithm -->")

    documented: dict[str, str] = {}
    for page in sorted((ROOT / "docs" / "api").glob("*.md")):
        for line in hook.expand(page.read_text()).splitlines():
            if line.startswith("::: ") and line.count(".") >= 2:
                name = line[4:].strip()
                assert name not in documented, f"{name} on {page.name} and {documented[name]}"
                documented[name] = page.name
    import lerax.algorithm
    import lerax.callback
    import lerax.callback.logging

    for module in (lerax.algorithm, lerax.callback, lerax.callback.logging):
        for name, obj in vars(module).items():
            origin = getattr(obj, "__module__", None) or ""
            if name.startswith("_") or not origin.startswith(module.__name__ + "."):
                continue
            if module is lerax.callback and origin.startswith("lerax.callback.logging."):
                continue  # documented on the lerax.callback.logging page
            assert f"{module.__name__}.{name}" in documented, name
