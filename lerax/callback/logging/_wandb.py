"""Weights & Biases backend."""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._backend import AbstractLoggingBackend, require
from ._tensorboard import check_frames

_MODES = ("online", "offline", "disabled")


class WandbBackend(AbstractLoggingBackend):
    """Log each run to its own Weights & Biases run.

    Every `open` starts a new W&B run (`reinit="create_new"`, so several runs, one per
    vmapped member, can be live in one process); members of a vmapped population share
    the W&B group `<run>` (their name without the `/seed_<i>` suffix). Scalars go to
    `run.log(..., step=step)` with env timesteps as the W&B step; hyper-parameters are
    merged into `run.config`; videos are encoded to MP4 (imageio-ffmpeg) and logged as
    `wandb.Video`. W&B's console capture is turned off (`console="off"`): one process
    holds many runs, and the training loop's output is not one run's.

    Mode: `mode=None` (the default) uses the `WANDB_MODE` environment variable when it
    is set and `"offline"` otherwise, so a run never reaches the network unless asked
    to; upload offline runs later with `wandb sync <dir>/wandb/offline-run-*`. Pass
    `mode="online"` (or set `WANDB_MODE=online`) to stream to the W&B server.

    Args:
        project: The W&B project (W&B's default when `None`).
        entity: The W&B entity (user or team; W&B's default when `None`).
        config: Extra config recorded in every run, merged under the hyper-parameters.
        mode: `"online"`, `"offline"`, `"disabled"`, or `None` (see above).
        dir: The directory that receives W&B's `wandb/` folder (created at `open`);
            W&B's default (the working directory) when `None`.
        tags: Tags for every run.
        quiet: Silence W&B's own console messages.

    Raises:
        TypeError: An argument has the wrong type (the message names it).
        ValueError: `mode` is not one of the accepted values.
        ImportError: `wandb` or `imageio-ffmpeg` is missing.
    """

    def __init__(
        self,
        project: str | None = None,
        entity: str | None = None,
        config: Mapping[str, Any] | None = None,
        mode: str | None = None,
        dir: str | os.PathLike | None = None,
        tags: Sequence[str] | None = None,
        quiet: bool = False,
    ):
        for arg, value in (("project", project), ("entity", entity)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{arg} must be a str or None, got {value!r}")
        if config is not None and not isinstance(config, Mapping):
            raise TypeError(f"config must be a mapping or None, got {config!r}")
        if mode is not None and mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES} or None, got {mode!r}")
        if dir is not None and not isinstance(dir, str | os.PathLike):
            raise TypeError(f"dir must be a str, os.PathLike or None, got {dir!r}")
        if not isinstance(quiet, bool):
            raise TypeError(f"quiet must be a bool, got {quiet!r}")
        require("wandb", "wandb", "WandbBackend")
        require("imageio_ffmpeg", "video", "WandbBackend")
        self.project = project
        self.entity = entity
        # Not `self.config`: that name is AbstractLoggingBackend.config().
        self.wandb_config = dict(config) if config is not None else None
        self.mode = mode
        self.dir = os.fspath(dir) if dir is not None else None
        self.tags = check_tags(tags)
        self.quiet = quiet
        self._run: Any = None

    @property
    def run(self) -> Any:
        """The live `wandb` run (`None` when closed)."""
        return self._run

    def open(self, name: str, *, metadata: dict[str, Any] | None = None) -> None:
        import wandb

        if self._run is not None:
            raise RuntimeError("WandbBackend is already open; close it (or copy it) first")
        metadata = metadata or {}
        group = name.rsplit("/", 1)[0] if metadata.get("member_index") and "/" in name else None
        if self.dir is not None:
            os.makedirs(self.dir, exist_ok=True)
        self._run = wandb.init(
            project=self.project,
            entity=self.entity,
            name=name,
            group=group,
            config=self.wandb_config,
            tags=self.tags,
            dir=self.dir,
            mode=self.mode or os.environ.get("WANDB_MODE") or "offline",
            reinit="create_new",
            settings=wandb.Settings(console="off", silent=self.quiet, quiet=self.quiet),
        )

    def log_hparams(self, hparams: dict[str, Any]) -> None:
        values = {str(k): v.item() if isinstance(v, np.generic) else v for k, v in hparams.items()}
        self._live().config.update(values, allow_val_change=True)

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        self._live().log({k: float(v) for k, v in scalars.items()}, step=int(step))

    def log_video(self, tag: str, frames: np.ndarray, step: int, fps: float) -> None:
        import wandb

        run = self._live()
        video = wandb.Video(io.BytesIO(encode_mp4(frames, fps)), format="mp4")
        run.log({tag: video}, step=int(step))

    def close(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            run.finish()

    def _live(self) -> Any:
        if self._run is None:
            raise RuntimeError("WandbBackend is not open; call open(name) first")
        return self._run


def encode_mp4(frames: np.ndarray, fps: float) -> bytes:
    """Encode `uint8[T, H, W, 3]` frames as an H.264 MP4 (yuv420p).

    yuv420p needs even sizes, so an odd height or width is padded by repeating the
    last row or column.
    """
    import imageio_ffmpeg

    # imageio-ffmpeg starts ffmpeg with a `preexec_fn`, and a fork with a `preexec_fn`
    # in a process with many threads (XLA's, the writers') can hang in the child
    # forever (seen here; imageio-ffmpeg issue #58). Its documented switch drops it.
    os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")
    frames = check_frames(frames)
    _, height, width, _ = frames.shape
    frames = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    with tempfile.TemporaryDirectory(prefix="lerax-video-") as folder:
        path = os.path.join(folder, "video.mp4")
        writer = imageio_ffmpeg.write_frames(
            path,
            (frames.shape[2], frames.shape[1]),
            fps=float(fps),
            codec="libx264",
            pix_fmt_out="yuv420p",
            macro_block_size=1,
            ffmpeg_log_level="error",
        )
        with warnings.catch_warnings():
            # JAX warns on any fork; this one is fork+exec of ffmpeg, which is safe.
            warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
            writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        with open(path, "rb") as file:
            return file.read()


def check_tags(tags: Sequence[str] | None) -> list[str] | None:
    """Validate a `tags` argument: `None` or a sequence of str (not one bare str)."""
    if tags is None:
        return None
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        raise TypeError(f"tags must be a sequence of str or None, got {tags!r}")
    if not all(isinstance(tag, str) for tag in tags):
        raise TypeError(f"tags must be a sequence of str or None, got {tags!r}")
    return list(tags)
