"""The host side of `RecordVideos`: mp4 files written on a background thread."""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
import traceback
import weakref
from pathlib import Path

import numpy as np

from lerax.host import BackgroundWorker

from .._host_only import member_label
from ..logging._wandb import encode_mp4

EPISODE, STEP, FINAL = 0, 1, 2

_writers: weakref.WeakSet[VideoWriter] = weakref.WeakSet()
_atexit_lock = threading.Lock()
_atexit_registered = False


def check_video_support() -> None:
    """Raise `ImportError` unless imageio and its ffmpeg plugin can be imported."""
    try:
        import imageio  # noqa: F401
        import imageio_ffmpeg  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "RecordVideos writes mp4 files with imageio and imageio-ffmpeg: "
            "pip install 'lerax[video]'."
        ) from error


def video_name(prefix: str, kind: int, number: int) -> str:
    """`<prefix>-iteration-<n>.mp4`, `<prefix>-step-<n>.mp4` or `<prefix>-final.mp4`."""
    if kind == FINAL:
        return f"{prefix}-final.mp4"
    return f"{prefix}-{'iteration' if kind == EPISODE else 'step'}-{number}.mp4"


def safe_prefix(name: str) -> str:
    """An env name made safe for a file name (`CartPole-v1` stays as it is)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "env"


def write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    """Write `frames` (`(T, H, W, 3)` uint8) as an H.264 mp4 (the logging backends'
    encoder, `encode_mp4`).

    The file appears complete or not at all: it is written under a temporary name
    in the same folder, then renamed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial.mp4")
    partial.write_bytes(encode_mp4(frames, fps))
    os.replace(partial, path)


class VideoWriter:
    """Receives the video crossings of one training run and writes them as mp4.

    The receiver copies the valid frames, hands them to a `BackgroundWorker` and
    returns at once; the worker writes the files in order. The training-end
    crossing (the final episode) waits until every queued video is on disk, so
    `learn` returns after the last file is written. Videos queued by a run that
    never reached its end are written when the interpreter exits (`atexit`).

    A failing write is reported once on stderr; later videos of this run are then
    skipped and training goes on.

    Args:
        base: `<root>/<dirname>`. A plain run writes to `<base>/videos/`; under
            `vmap` each member writes to `<base>/seed_<i>/videos/` (nested vmaps:
            `<base>/<i>_<j>/videos/`).
        prefix: File name prefix (the env's name).
        fps: Playback frames per second.
    """

    def __init__(self, base: Path, prefix: str, fps: float):
        self.base = base
        self.prefix = safe_prefix(prefix)
        self.fps = fps
        self.worker = BackgroundWorker("lerax-videos")
        self.failure: str | None = None

    def path(self, member: tuple[int, ...], kind: int, number: int) -> Path:
        """Where the video of `member` (an index tuple; `()` for a plain run) goes."""
        return self.base / member_label(member) / "videos" / video_name(self.prefix, kind, number)

    def __call__(self, rows: dict[str, np.ndarray], index: np.ndarray) -> None:
        global _atexit_registered
        with _atexit_lock:
            _writers.add(self)
            if not _atexit_registered:
                atexit.register(_wait_all)
                _atexit_registered = True
        final = False
        for r in range(index.shape[0]):
            member = tuple(int(i) for i in index[r])
            kind = int(rows["kind"][r])
            num_frames = int(rows["num_frames"][r])
            frames = np.array(rows["frames"][r][:num_frames], dtype=np.uint8)
            self.worker.submit(self._write, self.path(member, kind, int(rows["number"][r])), frames)
            final = final or kind == FINAL
        if final:
            self.wait()

    def wait(self) -> None:
        """Block until every queued video is written (or skipped after a failure)."""
        self.worker.drain()

    def close_run(self, *, interrupted: bool) -> None:
        """The training call ended (its run scope closes): write every queued video
        and end the writer thread."""
        self.worker.close()
        with _atexit_lock:
            _writers.discard(self)

    def _write(self, path: Path, frames: np.ndarray) -> None:
        if self.failure is not None:
            return
        try:
            write_mp4(path, frames, self.fps)
        except Exception as error:  # noqa: BLE001 - report once, never stop training
            self.failure = f"{type(error).__name__}: {error}"
            print(
                f"lerax: RecordVideos could not write {path}; later videos of this run "
                f"are skipped, training continues.\n{traceback.format_exc()}",
                file=sys.stderr,
            )


def existing_videos(base: Path) -> list[Path]:
    """The `videos` folders under `base` (plain or per member) that hold files."""
    folders = [base / "videos", *base.glob("*/videos")] if base.is_dir() else []
    return [f for f in folders if f.is_dir() and any(f.iterdir())]


def _wait_all() -> None:
    for writer in list(_writers):
        writer.wait()
