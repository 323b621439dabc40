import gc
import itertools
import json
import os

import jax
import jax.random as jr
import numpy as np
import pytest


@pytest.fixture
def getkey():
    """A function returning a fresh, deterministic PRNG key on each call."""
    counter = itertools.count()
    base = jr.key(0)
    return lambda: jr.fold_in(base, next(counter))


@pytest.fixture
def as_saved_by_an_older_version():
    """A function rewriting a checkpoint as a lerax version whose class ending in
    `class_suffix` had no `field`: the field's node and its arrays leave the file.
    It returns the indices of the arrays removed."""

    # Imported here: conftest is imported before `pytest_configure` sets XLA_FLAGS.
    from lerax.checkpoint._format import ARRAYS_FILE, STRUCTURE_KEY, leaf_key

    def rewrite(path, class_suffix: str, field: str) -> list[int]:
        arrays = os.path.join(path, ARRAYS_FILE)
        with np.load(arrays, allow_pickle=False) as f:
            entries = {name: f[name] for name in f.files}
        header = json.loads(entries[STRUCTURE_KEY].tobytes())
        removed: list[int] = []

        def leaves(node):
            if isinstance(node, dict):
                own = [node["index"]] if node.get("type") == "leaf" else []
                return own + [i for value in node.values() for i in leaves(value)]
            if isinstance(node, list):
                return [i for value in node for i in leaves(value)]
            return []

        def walk(node):
            if isinstance(node, dict):
                if str(node.get("class", "")).endswith(class_suffix):
                    removed.extend(leaves(node["fields"].pop(field)))
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(header)
        assert removed, f"no {class_suffix} with arrays in `{field}`"
        for index in removed:
            del entries[leaf_key(index)]
        entries[STRUCTURE_KEY] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        np.savez(arrays, **entries)
        return removed

    return rewrite


# The default stage is bound by XLA:CPU's compile time (hundreds of small programs, most
# run for a second or less). LLVM's optimisation level 1 instead of XLA's default cuts
# the stage's wall time by about a fifth. Its floating-point results are not bitwise
# the default level's (last bits differ, and a PPO run of 16k steps drifts visibly from
# them), but the default stage passed at both levels when the flag was introduced
# (level 0 failed three of its tests). The slow stage (`-m slow`) compiles with XLA's
# defaults, so optimised code is tested too. An `XLA_FLAGS` that already sets the level
# wins.
DEFAULT_STAGE_XLA_FLAG = "--xla_backend_optimization_level=1"


def pytest_configure(config):
    """Keep W&B and Comet offline and quiet in every test (no network, no telemetry);
    in the default stage, compile with `DEFAULT_STAGE_XLA_FLAG` (before JAX starts)."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
    os.environ.setdefault("COMET_ERROR_TRACKING_ENABLE", "false")
    flags = os.environ.get("XLA_FLAGS", "")
    if config.getoption("markexpr") == "not slow" and "optimization_level" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {DEFAULT_STAGE_XLA_FLAG}".strip()


# Whole files that train many programs: the "slow" stage of CI (`pytest -m slow`), left
# out of the default run (pyproject's `addopts = -m "not slow"`) so that it stays within
# ~15 minutes on 2 cores. `.ci/run` runs both stages. Single tests of ~20 s or more whose
# subject the default run also covers more cheaply carry `@pytest.mark.slow` themselves.
SLOW_FILES = {
    "test_docs.py",  # every ```python block of the docs, one subprocess per page
    "test_examples.py",  # every script in examples/
    "test_callback_matrix.py",  # every built-in callback x PPO/A2C/DQN/SAC x jit/vmap
    "test_brax_adapter.py",  # Brax compiles for minutes
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


def _memory_maps() -> int | None:
    """How many memory mappings this process holds (Linux), else None."""
    try:
        with open(f"/proc/{os.getpid()}/maps", "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return None


def _map_limit() -> int:
    try:
        with open("/proc/sys/vm/max_map_count") as limit:
            return int(limit.read())
    except (OSError, ValueError):
        return 65530


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    """Free JAX's compiled programs when the process nears the kernel's map limit.

    Every program XLA:CPU compiles keeps ~800 memory mappings (a PPO program) for as
    long as JAX caches it, and a process past `vm.max_map_count` (65530 by default)
    segfaults inside the next compilation. A test worker compiles hundreds of programs,
    so it clears JAX's caches once it holds half the limit.
    """
    yield
    held = _memory_maps()
    if held is not None and held > _map_limit() // 2:
        jax.clear_caches()
        gc.collect()
