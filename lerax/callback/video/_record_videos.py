"""`RecordVideos`: mp4 videos of the policy during training, rendered on the device."""

from __future__ import annotations

import dataclasses
import os
import weakref
from pathlib import Path
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Int, Key

from lerax import host
from lerax._checks import check_bool, check_int
from lerax._paths import check_relative_name
from lerax.env import AbstractEnv
from lerax.env._episode_limit import episode_steps
from lerax.env.wrapper import without_normalization

from .._context import IterationContext, ResetContext, TrainingContext
from .._deployment import acting_policy
from .._host_only import HostOnly
from .._partial import AbstractNeverStopping, AbstractWithoutStepState
from .._state import AbstractCallbackState, EmptyCallbackStepState
from ..logging._episode_video import render_until_done
from ..logging._video import render_episode
from ._video_writer import (
    EPISODE,
    FINAL,
    STEP,
    VideoWriter,
    check_video_support,
    existing_videos,
)

METHODS = ("episode", "step")

_OWNERS: dict[str, weakref.ref] = {}  # <root>/<dirname> -> the callback that wrote there


class RecordVideosState(AbstractCallbackState):
    """Per-run state of `RecordVideos`.

    Attributes:
        last_timesteps: Env steps at the previous iteration (for `method="step"`).
        ack: Host acknowledgements (keeps crossings in program order).
    """

    last_timesteps: Int[Array, ""]
    ack: Int[Array, ""]


class RecordVideos(
    AbstractWithoutStepState[RecordVideosState],
    AbstractNeverStopping[RecordVideosState, EmptyCallbackStepState],
):
    """Record videos of the policy being trained, as mp4 files.

    Videos are written to `<root>/<dirname>/videos/`, next to `SaveCheckpoints`'s
    `<root>/<dirname>/saves/`; under `jax.vmap(learn)` each member writes to
    `<root>/<dirname>/seed_<i>/videos/` (nested vmaps: `<i>_<j>/videos/`), next to
    that member's `saves/`. Every video shows the policy's DETERMINISTIC action
    (`predict` without a key) in a fresh environment reset with the callbacks' own
    key, not the training envs' exploratory steps.

    Methods (what `frequency` counts):

    * `"episode"`: after every iteration whose number is a multiple of `frequency`,
      record ONE episode, from reset until it terminates or is truncated, at most
      `num_steps` steps; file `<env>-iteration-<n>.mp4` (`n` the iteration number,
      counted from 1), `length + 1` frames (the reset state and the state after
      each step, the last one included).
    * `"step"`: each time the env steps taken (summed over envs, as
      `num_timesteps`) pass a multiple of `frequency`, record a clip of exactly
      `num_steps` steps at the end of that iteration (episodes that end are
      followed by a fresh one); file `<env>-step-<t>.mp4` with `t` the env steps
      at that point, `num_steps` frames. At most one clip per iteration.

    Whatever the method, the final policy's episode is always recorded when
    training ends (also after an early stop): `<env>-final.mp4`, as in
    `"episode"`.

    `num_steps` defaults to the env's `max_episode_steps` (the smallest along its
    wrappers), else 1000. Frames are rendered with the env's pure-JAX renderer on
    the device, only when a video is due (`lerax.host.send(compute=...)`), and
    cross to the host once per video for all members: one video costs
    `(num_steps + 1) * height * width * 3` bytes of device memory per member
    (CartPole at 600x400: 361 MB); lower `width`/`height`/`num_steps` for large
    populations. The mp4 files are written by a background thread; the
    training-end crossing waits for them, so every file exists when `learn`
    returns.

    Overwriting: `learn` (or `train`) raises `FileExistsError` before the program
    runs if a `videos` folder of `<root>/<dirname>` (plain or per member) already
    holds files, unless `force=True` (files of the same name are then overwritten)
    or this same callback object wrote them earlier in this process (so
    `algo.train(state, k, callback=cb)` in chunks continues into one folder; the
    iteration and step numbers continue, `-final.mp4` is the latest chunk's).
    Constructing the callback has no side effect; folders are created with the
    first video. `dirname`, `root`, `force` and `fps` are host-only: changing them
    does not recompile the training program.

    Two `RecordVideos` with the same `root` and `dirname` in one callback list write
    into one folder (with the same `method` and `frequency`, over each other's files);
    give each its own `dirname`.

    Args:
        dirname: Name of the run's folder in `root`, e.g. `"ppo-cartpole"` or
            `"ppo/cartpole"`: a relative path without empty, `.` or `..` components.
        method: `"episode"` or `"step"` (see above).
        frequency: Iterations (`"episode"`) or env steps (`"step"`) between videos.
        force: Allow writing into a `videos` folder that already holds files.
        root: Parent folder of `dirname` (a relative path resolves against the
            working directory when training starts).
        num_steps: Step cap of an episode (`"episode"`, final video) and length of
            a clip (`"step"`); default: the env's `max_episode_steps`, else 1000.
        width: Frame width in pixels (even: H.264 needs even sizes).
        height: Frame height in pixels (even).
        fps: Playback frames per second.

    Raises:
        ValueError: for a `method` other than `"episode"`/`"step"` (the message
            lists them), a bad `frequency`, `num_steps`, `width`, `height` or
            `fps`, or a `dirname` that would leave `root` (absolute, `..`, empty
            or `.` components).
        TypeError: for a `dirname`, `force` or `root` of the wrong type.
    """

    method: str = eqx.field(static=True)
    frequency: int = eqx.field(static=True)
    num_steps: int | None = eqx.field(static=True)
    width: int = eqx.field(static=True)
    height: int = eqx.field(static=True)
    _host: HostOnly[_VideoHostConfig] = eqx.field(static=True)

    def __init__(
        self,
        dirname: str,
        *,
        method: str = "episode",
        frequency: int = 100,
        force: bool = False,
        root: str | os.PathLike = "checkpoints",
        num_steps: int | None = None,
        width: int = 600,
        height: int = 400,
        fps: float = 50,
    ):
        if not isinstance(dirname, str) or not dirname:
            raise TypeError(f"RecordVideos: `dirname` must be a non-empty str, got {dirname!r}.")
        check_relative_name("RecordVideos", "dirname", dirname)
        if method not in METHODS:
            choices = ", ".join(repr(m) for m in METHODS)
            raise ValueError(f"RecordVideos: `method` must be one of {choices}; got {method!r}.")
        for arg, value, can_be_none in (
            ("frequency", frequency, False),
            ("num_steps", num_steps, True),
        ):
            if value is None and can_be_none:
                continue
            check_int("RecordVideos", arg, value)
        for arg, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 2 or value % 2:
                raise ValueError(
                    f"RecordVideos: `{arg}` must be an even int >= 2 (H.264), got {value!r}."
                )
        check_bool("RecordVideos", "force", force)
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"RecordVideos: `root` must be a str or a path, got {root!r}.")
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
            raise ValueError(f"RecordVideos: `fps` must be a number > 0, got {fps!r}.")
        self.method = method
        self.frequency = frequency
        self.num_steps = num_steps
        self.width = width
        self.height = height
        self._host = HostOnly(_VideoHostConfig(dirname, os.fspath(root), force, float(fps)))

    @property
    def dirname(self) -> str:
        """Name of the run's folder in `root`."""
        return self._host.value.dirname

    @property
    def root(self) -> str:
        """Parent folder of `dirname`."""
        return self._host.value.root

    @property
    def force(self) -> bool:
        """Whether files in an existing `videos` folder may be overwritten."""
        return self._host.value.force

    @property
    def fps(self) -> float:
        """Playback frames per second."""
        return self._host.value.fps

    @property
    def _channel(self) -> str:
        return "videos"

    # ----------------------------------------------------------- host side

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Any]:
        """Check the output folder and open this run's writer.

        Raises:
            ImportError: if imageio or imageio-ffmpeg is missing.
            FileExistsError: if a `videos` folder of `<root>/<dirname>` holds files,
                `force` is False and this callback object did not write them.
        """
        check_video_support()
        base = Path(self.root, self.dirname).absolute()
        owner = _OWNERS.get(str(base))
        if not self.force and (owner is None or owner() is not self):
            existing = existing_videos(base)
            if existing:
                raise FileExistsError(
                    f"RecordVideos: '{existing[0]}' already holds files. Change `dirname`, "
                    "move or delete the folder, or pass force=True to overwrite."
                )
        _OWNERS[str(base)] = weakref.ref(self)
        return {self._channel: VideoWriter(base, str(run.get("env") or "env"), self.fps)}

    def config(self) -> dict[str, Any]:
        return {
            "type": "RecordVideos",
            "dirname": self.dirname,
            "method": self.method,
            "frequency": self.frequency,
            "force": self.force,
            "root": self.root,
            "num_steps": self.num_steps,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
        }

    # ----------------------------------------------------------- device side

    def _length(self, env: AbstractEnv) -> int:
        if self.num_steps is not None:
            return self.num_steps
        return episode_steps(env)

    def _send(self, ctx, kind: int, number, due, key: Key[Array, ""]) -> Int[Array, ""]:
        env = without_normalization(ctx.env)  # a policy trained behind it acts as deployed
        modules = (acting_policy(ctx, env), env)
        arrays, static = eqx.partition(modules, eqx.is_array)
        length, width, height = self._length(env), self.width, self.height

        def render(payload):  # on the device, only when some member is due
            policy, env = eqx.combine(payload["modules"], static)
            if kind == STEP:
                frames = render_episode(env, policy, length, width, height, key=payload["key"])
                num_frames = jnp.asarray(length, jnp.int32)
            else:
                frames, num_frames = render_until_done(
                    env, policy, length, width, height, key=payload["key"]
                )
            return {
                "kind": payload["kind"],
                "number": payload["number"],
                "frames": frames,
                "num_frames": num_frames,
            }

        payload = {
            "ack": ctx.state.ack,  # data dependency on the previous crossing: in order
            "modules": arrays,
            "key": key,
            "kind": jnp.asarray(kind, jnp.int32),
            "number": jnp.asarray(number, jnp.int32),
        }
        return host.send(self._channel, payload, due=due, compute=render)

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> RecordVideosState:
        zero = jnp.zeros((), jnp.int32)
        return RecordVideosState(last_timesteps=zero, ack=zero)

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> RecordVideosState:
        return RecordVideosState(last_timesteps=ctx.num_timesteps, ack=ctx.state.ack)

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> RecordVideosState:
        if self.method == "episode":
            due = ctx.iteration_count % self.frequency == 0
            ack = self._send(ctx, EPISODE, ctx.iteration_count, due, key)
        else:
            due = ctx.num_timesteps // self.frequency > ctx.state.last_timesteps // self.frequency
            ack = self._send(ctx, STEP, ctx.num_timesteps, due, key)
        return RecordVideosState(last_timesteps=ctx.num_timesteps, ack=ctx.state.ack + ack)

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> RecordVideosState:
        ack = self._send(ctx, FINAL, ctx.iteration_count, True, key)
        return RecordVideosState(last_timesteps=ctx.state.last_timesteps, ack=ctx.state.ack + ack)


@dataclasses.dataclass(frozen=True)
class _VideoHostConfig:
    """What only the host side of `RecordVideos` reads (see `HostOnly`)."""

    dirname: str
    root: str
    force: bool
    fps: float
