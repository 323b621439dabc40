"""TensorBoard backend (event files written with tensorboardX)."""

from __future__ import annotations

import io
import os
import time
from typing import Any

import numpy as np

from lerax._paths import check_relative_name

from ._backend import AbstractLoggingBackend, require
from ._run_names import writer_suffix


class TensorBoardBackend(AbstractLoggingBackend):
    """Write each run to TensorBoard event files under `log_dir/<name>`.

    Scalars become TensorBoard scalar series (x axis: env timesteps; NaN kept as NaN,
    tags kept verbatim). Hyper-parameters
    are written in the HParams plugin format into the run's own directory (no extra
    sub-run), without an experiment summary, so TensorBoard infers the experiment,
    metric columns included, from all runs' hparams and scalar tags. Consecutive
    `log_hparams` calls are merged and written before the next scalars; TensorBoard
    reads only the first hparams summary of a run, so later ones are not shown.
    Videos are encoded as animated GIFs (TensorBoard's image plugin plays them);
    Pillow, a dependency of `tensorboard`, does the encoding, so `moviepy` is not
    needed.

    Vmapped members are named `<run>/seed_<i>`, which gives one nested directory per
    member: TensorBoard shows them as separate runs that share a prefix. A run name
    must stay inside `log_dir` (no absolute path, no empty, `.` or `..` component).

    Every `open` writes a new events file of its own,
    `events.out.tfevents.<time>.<host>.<pid>.<random>`, so two processes logging the
    same run name into one `log_dir` (even in the same second) never share a file;
    TensorBoard reads every events file of a run directory.

    Events are written with tensorboardX's record writer (`EventsWriter`: TFRecord
    framing, CRC32C) straight from the caller's thread, which for `LoggingCallback` is
    already a background writer. `SummaryWriter` is not used: it hands every event to
    a thread of its own through a `multiprocessing.Queue` of 10 (a pickle, a pipe and
    two thread wake-ups per event, and a blocked caller when 10 are pending).

    Args:
        log_dir: The directory that holds one sub-directory per run.
        flush_secs: How often pending events are flushed to disk, in seconds.

    Raises:
        TypeError: `log_dir` is not a path or `flush_secs` is not a number.
        ValueError: `flush_secs` is not positive.
        ImportError: `tensorboardX` or `Pillow` is missing (`pip install 'lerax[tensorboard]'`).
    """

    def __init__(self, log_dir: str | os.PathLike = "runs", flush_secs: float = 10.0):
        if not isinstance(log_dir, str | os.PathLike):
            raise TypeError(f"log_dir must be a str or os.PathLike, got {log_dir!r}")
        if isinstance(flush_secs, bool) or not isinstance(flush_secs, int | float):
            raise TypeError(f"flush_secs must be a positive number, got {flush_secs!r}")
        if not flush_secs > 0:
            raise ValueError(f"flush_secs must be a positive number, got {flush_secs!r}")
        require("tensorboardX", "tensorboard", "TensorBoardBackend")
        require("PIL", "tensorboard", "TensorBoardBackend")
        self.log_dir = os.fspath(log_dir)
        self.flush_secs = float(flush_secs)
        self._events: Any = None
        self._run_dir: str | None = None
        self._flushed = 0.0
        self._hparams: dict[str, Any] = {}
        self._hparams_pending = False
        self._templates: dict[tuple[str, ...], _SummaryTemplate] = {}

    @property
    def run_dir(self) -> str | None:
        """The open run's directory (`None` when closed)."""
        return self._run_dir

    def open(self, name: str, *, metadata: dict[str, Any] | None = None) -> None:
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.record_writer import directory_check

        if self._events is not None:
            raise RuntimeError("TensorBoardBackend is already open; close it (or copy it) first")
        run_dir = os.path.join(self.log_dir, _relative(name))
        if "://" in run_dir:  # a remote file system tensorboardX knows
            directory_check(run_dir)
        else:  # two processes may create it at once: no race
            os.makedirs(run_dir, exist_ok=True)
        # A file of its own (`events.out.tfevents.<time>.<host>.<pid>.<random>`): two
        # processes writing one run in the same second would otherwise share a name,
        # and the second would truncate the first's file.
        self._events = EventsWriter(os.path.join(run_dir, "events"), writer_suffix())
        self._run_dir = run_dir
        self._flushed = time.monotonic()
        self._hparams = {}
        self._hparams_pending = False

    def log_hparams(self, hparams: dict[str, Any]) -> None:
        if self._events is None:
            raise RuntimeError("TensorBoardBackend is not open; call open(name) first")
        self._hparams.update({str(k): _hparam_value(v) for k, v in hparams.items()})
        self._hparams_pending = True

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        from tensorboardX.proto.event_pb2 import Event

        # One event per call: `add_scalar` would write one event per metric and warn on
        # every NaN (a NaN is a legitimate value here, e.g. the mean return before any
        # episode ended). The summary is the run's serialized template for these tags
        # (the same at every event of a run) with the values written in, parsed once:
        # a third of the time of setting every `Summary.Value` (see `_SummaryTemplate`).
        tags = tuple(scalars)
        template = self._templates.get(tags)
        if template is None:
            template = _SummaryTemplate(tags)
            self._templates[tags] = template
        event = Event(wall_time=time.time(), step=int(step))
        event.summary.MergeFromString(template.encode(scalars.values()))
        self._write(event)

    def log_video(self, tag: str, frames: np.ndarray, step: int, fps: float) -> None:
        from tensorboardX.proto.summary_pb2 import Summary

        frames = check_frames(frames)
        _, height, width, channels = frames.shape
        image = Summary.Image(
            height=height,
            width=width,
            colorspace=channels,
            encoded_image_string=encode_gif(frames, fps),
        )
        self._write(_event(Summary(value=[Summary.Value(tag=tag, image=image)]), int(step)))

    def flush(self) -> None:
        """Write pending events to disk now."""
        self._writer().flush()
        self._flushed = time.monotonic()

    def close(self) -> None:
        if self._events is None:
            return
        try:
            if self._hparams:
                from tensorboardX.summary import hparams as hparams_summaries

                _, _, session_end = hparams_summaries(self._hparams, {})
                # `_writer()` writes a pending session-start summary first.
                self._writer().write_event(_event(session_end, None))
        finally:
            events, self._events, self._run_dir = self._events, None, None
            events.close()

    def _write(self, event: Any) -> None:
        """Write `event` (after the pending hparams summary); flush when it is time."""
        self._writer().write_event(event)
        if time.monotonic() - self._flushed >= self.flush_secs:
            self.flush()

    def _writer(self) -> Any:
        """The open events writer, with the pending hparams summary written first."""
        if self._events is None:
            raise RuntimeError("TensorBoardBackend is not open; call open(name) first")
        if self._hparams_pending:
            from tensorboardX.summary import hparams as hparams_summaries

            self._hparams_pending = False
            _, session_start, _ = hparams_summaries(self._hparams, {})
            self._events.write_event(_event(session_start, None))
        return self._events


def _event(summary: Any, step: int | None) -> Any:
    """An `Event` holding `summary`, stamped now, at `step` (none for hparams)."""
    from tensorboardX.proto.event_pb2 import Event

    event = Event(summary=summary, wall_time=time.time())
    if step is not None:
        event.step = step
    return event


class _SummaryTemplate:
    """The serialized scalar `Summary` of one set of tags, with each value's 4 bytes
    at known positions.

    A `Summary` is a repeated `Value {tag = 1; simple_value = 2}`; serialized, each
    value is its tag's bytes followed by its float32, and concatenated serialized
    messages are the message with all their values. So an event's summary is this
    template with the float32s of its values written in by one numpy assignment,
    then parsed by protobuf once, instead of ~0.5 us of Python per `simple_value`
    set on a copy of a `Summary`.
    """

    def __init__(self, tags: tuple[str, ...]):
        from tensorboardX.proto.summary_pb2 import Summary

        sentinel = np.asarray([1.0], "<f4").tobytes()
        parts = []
        for tag in tags:
            part = Summary(value=[Summary.Value(tag=str(tag), simple_value=1.0)])
            part = part.SerializeToString()
            if not part.endswith(sentinel):  # the float is the value's last field
                raise AssertionError(f"unexpected Summary encoding for tag {tag!r}")
            parts.append(part)
        self.bytes = np.frombuffer(b"".join(parts), np.uint8).copy()
        ends = np.cumsum([len(part) for part in parts], dtype=np.int64)
        self.positions = ends[:, None] - 4 + np.arange(4)  # (tags, 4) byte positions

    def encode(self, values) -> bytes:
        """The serialized summary holding `values` (in the tags' order) as float32."""
        buffer = self.bytes.copy()
        with np.errstate(over="ignore"):  # beyond float32's range: +-inf, as protobuf
            floats = np.asarray(list(values), np.float64).astype("<f4")
        buffer[self.positions] = floats.view(np.uint8).reshape(-1, 4)
        return buffer.tobytes()


def encode_gif(frames: np.ndarray, fps: float) -> bytes:
    """Encode `uint8[T, H, W, 3]` frames as a looping animated GIF.

    GIF delays are in 1/100 s and browsers slow down delays under 20 ms, so the
    frame delay is `1000 / fps` rounded to 10 ms and at least 20 ms (50 fps at most).
    """
    from PIL import Image

    frames = check_frames(frames)
    delay = max(20, int(round(100.0 / float(fps))) * 10) if fps > 0 else 100
    images = [Image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer, format="GIF", save_all=True, append_images=images[1:], duration=delay, loop=0
    )
    return buffer.getvalue()


def check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames must have shape [T>0, H, W, 3], got {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    return np.ascontiguousarray(frames)


def _hparam_value(value: Any) -> str | bool | float:
    """Coerce a value to the types of the HParams plugin (string, bool, number)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str | bool | int | float):
        return value
    return str(value)


def _relative(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"the run name must be a non-empty str, got {name!r}")
    return check_relative_name("TensorBoardBackend", "run name", name)
