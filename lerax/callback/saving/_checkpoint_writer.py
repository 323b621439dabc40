"""The host side of `SaveCheckpoints`: directories, a background writer, isolation.

The compiled program sends each member's state as a flat list of numpy leaves. Their
pytree structure is recorded once, while the program is traced, in `_STRUCTURES`; the
payload carries its id as a constant, so a cached program always names the right
structure. Receivers copy the rows into a `BackgroundWorker` queue and return; the
end-of-training receiver waits until every write finished.

Isolation: the first write failure is reported once on stderr; later writes of the
session are skipped and training goes on. Nothing raises into XLA.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
import weakref
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lerax.checkpoint._format import is_spec
from lerax.checkpoint._save import remove_stale_entries, write_checkpoint
from lerax.checkpoint._structure import encode_structure
from lerax.host import member_label
from lerax.host._worker import BackgroundWorker
from lerax.space import AbstractSpace


@dataclasses.dataclass
class _Structure:
    skeleton: Any
    policy_floats: tuple[int, ...]  # leaf indices of the policy's inexact arrays
    encoded: str | None = None  # the JSON structure, made once on the worker thread


_STRUCTURES: dict[int, _Structure] = {}
_OWNERS: dict[str, weakref.ref] = {}
_lock = threading.Lock()


def register_structure(skeleton: Any) -> int:
    """Record a skeleton (at trace time) and return its id, sent with the leaves."""
    policy = getattr(skeleton, "policy", None)
    nodes = jax.tree.leaves(policy, is_leaf=lambda x: isinstance(x, AbstractSpace) or is_spec(x))
    floats = tuple(  # the trainable parameters: inexact arrays, spaces' bounds excluded
        x.index for x in nodes if is_spec(x) and jnp.issubdtype(jnp.dtype(x.dtype), jnp.inexact)
    )
    with _lock:
        structure_id = len(_STRUCTURES)
        _STRUCTURES[structure_id] = _Structure(skeleton, floats)
    return structure_id


def claim_directory(callback: Any, base: Path) -> Path:
    """Refuse an existing `base` unless `callback` itself created it in this process.

    Returns:
        The absolute path of `base`.

    Raises:
        FileExistsError: if `base` exists and belongs to no earlier run of `callback`.
    """
    base = base.absolute()
    owner = _OWNERS.get(str(base))
    if base.exists() and (owner is None or owner() is not callback):
        raise FileExistsError(
            f"Items already exist in the '{base}' directory! Either change the "
            "'dirname' or delete the folder's contents."
        )
    _OWNERS[str(base)] = weakref.ref(callback)
    return base


def env_dirname(env: str | None) -> str:
    """`CartPole-v1` -> `CartPole`; characters unsafe in file names become `_`."""
    name = re.sub(r"-v\d+$", "", env or "Env")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "Env"


class CheckpointSession:
    """Host-side state of one `learn`/`train` call of a `SaveCheckpoints` callback.

    Opening it sweeps `base` of what killed writers left: temporaries
    (`.<name>.tmp-*`) and checkpoints half way through removal (`.<name>.deleting-*`).
    """

    def __init__(self, base: Path, run: dict[str, Any], *, keep: int | None):
        sweep_leftovers(base)
        self.base = base
        self.run = run
        self.keep = keep
        self.env = env_dirname(run.get("env"))
        self.worker = BackgroundWorker("lerax-checkpoints", max_pending=2)
        self.failed: str | None = None
        self.started = time.perf_counter()
        self.non_finite: dict[tuple[int, ...], int] = {}

    # ------------------------------- receivers (io thread): copy the rows, return at once

    def on_start(self, rows: dict[str, Any], index: np.ndarray) -> None:
        self.worker.submit(self._start, _copy(rows), np.array(index), time.perf_counter())

    def on_save(self, rows: dict[str, Any], index: np.ndarray) -> None:
        self.worker.submit(self._save, _copy(rows), np.array(index))

    def on_end(self, rows: dict[str, Any], index: np.ndarray) -> None:
        self.worker.submit(self._end, _copy(rows), np.array(index), time.perf_counter())
        self.worker.drain()

    def close_run(self, *, interrupted: bool) -> None:
        """The training call ended (its run scope closes): finish every queued write
        (checkpoints are never abandoned half way) and end the writer thread."""
        self.worker.close()

    # ---------------------------------------------------------- jobs (worker thread)

    def _saves(self, member: tuple[int, ...]) -> Path:
        return self.base / member_label(member) / "saves"

    def _guard(self, what: str, fn, *args) -> bool:
        if self.failed is not None:
            return False
        try:
            fn(*args)
        except Exception as error:  # noqa: BLE001 - isolate: report once, keep training
            self.failed = f"{type(error).__name__}: {error}"
            print(
                f"lerax: SaveCheckpoints failed to {what} under '{self.base}'; later saves "
                f"of this run are skipped and training continues.\n{traceback.format_exc()}",
                file=sys.stderr,
            )
            return False
        return True

    def _start(self, rows: dict[str, Any], index: np.ndarray, now: float) -> None:
        self.started = now
        for r, member in enumerate(_members(index)):
            config = self._model_config(rows, r, member)
            path = self._saves(member) / "model_config.json"
            self._guard("write model_config.json", _write_json, path, config)

    def _save(self, rows: dict[str, Any], index: np.ndarray) -> None:
        for r, member in enumerate(_members(index)):
            name = f"{self.env}_{int(rows['iteration'][r])}"
            if self._checkpoint(rows, r, member, name) and self.keep is not None:
                self._guard("remove old checkpoints", self._prune, self._saves(member))

    def _end(self, rows: dict[str, Any], index: np.ndarray, now: float) -> None:
        for r, member in enumerate(_members(index)):
            saved = self._checkpoint(rows, r, member, f"{self.env}_final")
            iterations = int(rows["iteration"][r])
            if bool(rows["stopped"][r]):
                reason = "stopped by callback"
            elif iterations >= int(rows["total_iterations"][r]):
                reason = "budget"
            else:
                reason = "num_iterations"  # `train(state, num_iterations)` ran its count
            completed = {
                "episodes": int(rows["episodes"][r]),
                "timesteps": int(rows["timesteps"][r]),
                "iterations": iterations,
                "wall_time_s": round(now - self.started, 3),
                "stop_reason": reason,
                "final_checkpoint": f"{self.env}_final" if saved else None,
                "skipped_non_finite": self.non_finite.get(member, 0),
                "member": list(member),
            }
            path = self._saves(member) / "completed.json"
            self._guard("write completed.json", _write_json, path, completed)

    def _checkpoint(self, rows: dict[str, Any], r: int, member: tuple[int, ...], name: str) -> bool:
        if self.failed is not None:
            return False
        structure = _STRUCTURES[int(rows["structure"][r])]
        leaves = [np.asarray(leaf[r]) for leaf in rows["leaves"]]
        iteration = int(rows["iteration"][r])
        if not all(np.isfinite(leaves[i]).all() for i in structure.policy_floats):
            count = self.non_finite.get(member, 0)
            self.non_finite[member] = count + 1
            if count == 0:
                print(
                    f"lerax: SaveCheckpoints: the policy parameters of "
                    f"{'member ' + str(list(member)) if member else 'the run'} are not finite "
                    f"at iteration {iteration}; checkpoint '{name}' skipped (and later "
                    "non-finite ones), the last finite checkpoint stays intact.",
                    file=sys.stderr,
                )
            return False
        metadata = {
            "algorithm": self.run.get("algorithm"),
            "env": self.run.get("env"),
            "member": list(member),
            "iteration": iteration,
            "num_timesteps": int(rows["timesteps"][r]),
            "num_episodes": int(rows["episodes"][r]),
        }

        def write() -> None:
            if structure.encoded is None:
                structure.encoded = encode_structure(structure.skeleton)
            path = self._saves(member) / name
            write_checkpoint(
                path, structure.skeleton, leaves, metadata, structure=structure.encoded
            )

        return self._guard(f"write checkpoint '{name}'", write)

    def _prune(self, saves: Path) -> None:
        pattern = re.compile(rf"{re.escape(self.env)}_(\d+)")
        found = sorted(
            (int(m.group(1)), p)
            for p in saves.iterdir()
            if p.is_dir() and (m := pattern.fullmatch(p.name))
        )
        for _, old in found[: max(len(found) - self.keep, 0)]:
            doomed = Path(tempfile.mkdtemp(prefix=f".{old.name}.deleting-", dir=saves))
            os.replace(old, doomed)  # never a half-deleted checkpoint under its name
            shutil.rmtree(doomed)

    def _model_config(self, rows: dict[str, Any], r: int, member: tuple[int, ...]) -> dict:
        hyperparameters = dict(self.run.get("hyperparameters") or {})
        env_parameters = {}
        for key, values in rows["hparams"].items():
            value = _python(values[r])
            if key.startswith("env/"):
                env_parameters[key[len("env/") :]] = value
            else:
                hyperparameters[key] = value
        skeleton = _STRUCTURES[int(rows["structure"][r])].skeleton
        return {
            "algorithm": self.run.get("algorithm"),
            "env": self.run.get("env"),
            "env_parameters": env_parameters,
            "total_timesteps": self.run.get("total_timesteps"),
            "num_envs": self.run.get("num_envs"),
            "hyperparameters": hyperparameters,
            "policy": _describe(getattr(skeleton, "policy", None)),
            "callback": self.run.get("callback"),
            "member": list(member),
            "start_iteration": int(rows["iteration"][r]),
        }


def sweep_leftovers(base: Path) -> list[Path]:
    """Remove stale `.tmp-*` and `.deleting-*` entries under a checkpoint directory
    (`<base>/saves/` and every member's `<base>/<member>/saves/`).

    Returns:
        The paths removed.
    """
    if not base.is_dir():
        return []
    removed = []
    for saves in [base / "saves", *base.glob("*/saves")]:
        if saves.is_dir():
            removed += remove_stale_entries(saves)
    return removed


def _copy(rows: Any) -> Any:
    """Own every array: views of the crossing's buffers are copied, fresh arrays kept."""
    return jax.tree.map(lambda x: x if np.asarray(x).flags.owndata else np.array(x), rows)


def _members(index: np.ndarray) -> list[tuple[int, ...]]:
    return [tuple(int(i) for i in row) for row in index]


def _write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=2, default=repr)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _describe(x: Any, depth: int = 0) -> Any:
    """A JSON-friendly description of a (skeleton) module's configuration."""
    if is_spec(x) or depth > 5:
        return None
    if x is None or isinstance(x, bool | int | float | str):
        return x
    if isinstance(x, np.dtype):
        return x.name
    if isinstance(x, list | tuple):
        return [d for d in (_describe(v, depth + 1) for v in x) if d is not None]
    if dataclasses.is_dataclass(x):
        out = {"type": type(x).__name__}
        for field in dataclasses.fields(x):
            value = _describe(getattr(x, field.name), depth + 1)
            if value is not None and value != []:
                out[field.name.lstrip("_")] = value
        return out
    return getattr(x, "__name__", None) if callable(x) else repr(x)


def _python(value: Any) -> Any:
    value = np.asarray(value)
    if value.dtype.kind in "biu":
        return value.item()
    return float(f"{float(value):.7g}") if value.dtype == np.float32 else float(value)
