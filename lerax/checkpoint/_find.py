"""`latest_checkpoint`: the save to resume from, given a run's name or directory."""

from __future__ import annotations

import os
from pathlib import Path

from ._errors import CheckpointError
from ._format import ARRAYS_FILE
from ._load import read_metadata


def latest_checkpoint(path: str | os.PathLike, *, root: str | os.PathLike = "checkpoints") -> Path:
    """The checkpoint to resume from: `path` itself if it is one save, else the newest
    save (highest iteration) of a `SaveCheckpoints` directory.

    Accepted forms: one save (`checkpoints/ckpt/saves/CartPole_50`), a run's directory
    (`checkpoints/ckpt`, or its `saves/`), or a `SaveCheckpoints` dirname looked up
    under `root` (`ckpt`). Saves that cannot be read are skipped.

    Args:
        path: One of the forms above.
        root: Where dirnames are looked up (`SaveCheckpoints`' `root`).

    Returns:
        The save's directory.

    Raises:
        CheckpointError: if there is nothing to resume; the message lists what
            exists (the saves found, or the runs under `root`).
    """
    given = Path(path)
    candidates = [given] if given.exists() else [Path(root) / given]
    directory = candidates[0]
    if (directory / ARRAYS_FILE).is_file():
        return directory
    saves = directory if directory.name == "saves" else directory / "saves"
    if not saves.is_dir():
        members = sorted(p.parent.name for p in directory.glob("*/saves") if p.is_dir())
        if members:
            raise CheckpointError(
                path,
                f"it holds the checkpoints of a population ({', '.join(members[:8])}); "
                f"pass one member's directory, e.g. '{directory / members[0]}'.",
                owner="lerax.checkpoint.latest_checkpoint",
            )
        raise CheckpointError(path, _nothing_there(directory, Path(root)), owner=_OWNER)
    found, unreadable = [], []
    for entry in sorted(saves.iterdir()):
        if entry.name.startswith(".") or not (entry / ARRAYS_FILE).is_file():
            continue
        try:
            iteration = int(read_metadata(entry).get("iteration", -1))
        except CheckpointError as error:
            unreadable.append(f"{entry.name}: {error.problem}")
            continue
        except (TypeError, ValueError):  # an iteration that is not a number
            unreadable.append(f"{entry.name}: no iteration recorded")
            continue
        found.append((iteration, entry.name.endswith("_final"), entry.name, entry))
    if not found:
        names = sorted(p.name for p in saves.iterdir() if not p.name.startswith("."))
        why = f"; {'; '.join(unreadable[:3])}" if unreadable else ""
        raise CheckpointError(
            path,
            f"no readable save in '{saves}' (it holds: {', '.join(names) or 'nothing'}){why}.",
            owner=_OWNER,
        )
    return max(found)[3]


_OWNER = "lerax.checkpoint.latest_checkpoint"


def _nothing_there(directory: Path, root: Path) -> str:
    if root.is_dir():
        runs = sorted(
            p.name for p in root.iterdir() if (p / "saves").is_dir() or any(p.glob("*/saves"))
        )
    else:
        runs = []
    listing = (
        f"runs under '{root}': {', '.join(runs)}" if runs else f"no runs under '{root}' either"
    )
    return f"no checkpoint or '{directory}/saves' directory there; {listing}."
