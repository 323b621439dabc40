"""Comet backend."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._backend import AbstractLoggingBackend, require
from ._wandb import check_tags, encode_mp4

_API_KEY = "COMET_API_KEY"
# Only what is asked for is logged: no source code, git state, argv, stdout capture,
# host details (user, IP, installed packages) or system-usage sampling.
_QUIET = dict(
    auto_param_logging=False,
    auto_metric_logging=False,
    auto_output_logging=False,
    parse_args=False,
    log_code=False,
    log_graph=False,
    log_git_metadata=False,
    log_git_patch=False,
    display_summary_level=0,
    log_env_details=False,
    log_env_host=False,
    log_env_gpu=False,
    log_env_cpu=False,
    log_env_disk=False,
)


class CometBackend(AbstractLoggingBackend):
    """Log each run to a Comet experiment (online, or offline into a zip archive).

    Online, the API key is read from the `COMET_API_KEY` environment variable, which
    must be set when the backend is constructed. Offline (`offline=True`) no key is
    needed: every experiment is written to `<offline_directory>/<key>.zip`, to be
    uploaded later with `comet upload <zip>`.

    A new experiment is named `experiment_name`, or `<Algorithm>_<Env>_<N>steps` from
    the run's metadata (`algorithm`, `env`, `total_timesteps`; the run name when one of
    them is unknown); vmapped members append their suffix (`.../seed_3`). Its tags are
    the algorithm and env names followed by `tags`. With `experiment_key` the backend
    continues that existing experiment instead (name and tags are then left as they
    are); a key names ONE experiment, so it cannot be used for a vmapped population.

    Hyper-parameters go to `log_parameters`, scalars to `log_metrics(step=timesteps)`,
    videos are encoded to MP4 (imageio-ffmpeg) and sent with `log_video`. Comet's
    automatic logging (code, git, argv, console output, host and package details,
    system usage) is off: only what the callback logs is sent.

    Args:
        project_name: The Comet project.
        experiment_name: The experiment name (see above for the default).
        tags: Tags added after the default ones.
        experiment_key: The key of an existing experiment to continue.
        offline: Write offline archives instead of talking to the Comet server.
        offline_directory: Where offline archives go (Comet's default when `None`);
            only with `offline=True`.

    Raises:
        TypeError: An argument has the wrong type (the message names it).
        ValueError: A bad value, or `COMET_API_KEY` is unset while `offline=False`.
        ImportError: `comet_ml` or `imageio-ffmpeg` is missing.
    """

    def __init__(
        self,
        project_name: str,
        experiment_name: str | None = None,
        tags: Sequence[str] | None = None,
        experiment_key: str | None = None,
        offline: bool = False,
        offline_directory: str | os.PathLike | None = None,
    ):
        if not isinstance(project_name, str) or not project_name:
            raise TypeError(f"project_name must be a non-empty str, got {project_name!r}")
        if experiment_name is not None and not isinstance(experiment_name, str):
            raise TypeError(f"experiment_name must be a str or None, got {experiment_name!r}")
        if experiment_key is not None and not (
            isinstance(experiment_key, str)
            and experiment_key.isalnum()
            and 32 <= len(experiment_key) <= 50
        ):
            raise ValueError(
                f"experiment_key must be a Comet experiment key (32 to 50 letters or digits) "
                f"or None, got {experiment_key!r}"
            )
        if not isinstance(offline, bool):
            raise TypeError(f"offline must be a bool, got {offline!r}")
        if offline_directory is not None:
            if not isinstance(offline_directory, str | os.PathLike):
                raise TypeError(
                    f"offline_directory must be a str, os.PathLike or None, "
                    f"got {offline_directory!r}"
                )
            if not offline:
                raise ValueError("offline_directory is only used with offline=True")
        require("comet_ml", "comet", "CometBackend")
        require("imageio_ffmpeg", "video", "CometBackend")
        if not offline and not os.environ.get(_API_KEY):
            raise ValueError(
                f"CometBackend needs a Comet API key: set the {_API_KEY} environment variable "
                f"(Comet account settings -> API keys), or pass offline=True to write "
                f"offline archives and upload them later with `comet upload`."
            )
        self.project_name = project_name
        self.experiment_name = experiment_name
        self.tags = check_tags(tags)
        self.experiment_key = experiment_key
        self.offline = offline
        self.offline_directory = (
            os.fspath(offline_directory) if offline_directory is not None else None
        )
        self._experiment: Any = None

    @property
    def experiment(self) -> Any:
        """The live `comet_ml` experiment (`None` when closed)."""
        return self._experiment

    def open(self, name: str, *, metadata: dict[str, Any] | None = None) -> None:
        import comet_ml

        if self._experiment is not None:
            raise RuntimeError("CometBackend is already open; close it (or copy it) first")
        metadata = metadata or {}
        member = bool(metadata.get("member_index")) and "/" in name
        suffix = "/" + name.rsplit("/", 1)[1] if member else ""
        if self.experiment_key is not None and member:
            raise ValueError(
                "CometBackend(experiment_key=...) continues ONE experiment and cannot log a "
                f"vmapped population (member run {name!r}); drop experiment_key"
            )
        settings: dict[str, Any] = dict(project_name=self.project_name, **_QUIET)
        if self.offline:
            settings["offline_directory"] = self.offline_directory
        else:
            settings["api_key"] = os.environ.get(_API_KEY)
        if self.experiment_key is not None:
            kind = "ExistingOfflineExperiment" if self.offline else "ExistingExperiment"
            self._experiment = getattr(comet_ml, kind)(
                experiment_key=self.experiment_key, **settings
            )
            return
        kind = "OfflineExperiment" if self.offline else "Experiment"
        experiment = _new_experiment(getattr(comet_ml, kind), settings)
        self._experiment = experiment
        experiment.set_name(default_name(self.experiment_name, name, metadata, suffix))
        tags = [str(metadata[k]) for k in ("algorithm", "env") if metadata.get(k) is not None]
        experiment.add_tags(list(dict.fromkeys(tags + (self.tags or []))))

    def log_hparams(self, hparams: dict[str, Any]) -> None:
        values = {str(k): v.item() if isinstance(v, np.generic) else v for k, v in hparams.items()}
        self._live().log_parameters(values)

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        self._live().log_metrics({k: float(v) for k, v in scalars.items()}, step=int(step))

    def log_video(self, tag: str, frames: np.ndarray, step: int, fps: float) -> None:
        experiment = self._live()
        video = io.BytesIO(encode_mp4(frames, fps))
        name = f"{tag.replace('/', '_')}_{int(step)}.mp4"
        experiment.log_video(video, name=name, step=int(step), format="mp4")

    def close(self) -> None:
        experiment, self._experiment = self._experiment, None
        if experiment is not None:
            # Comet writes offline messages asynchronously; under load `end()` alone
            # may archive before every message (even the run name) is written.
            experiment.flush()
            experiment.end()

    def _live(self) -> Any:
        if self._experiment is None:
            raise RuntimeError("CometBackend is not open; call open(name) first")
        return self._experiment


def _new_experiment(kind: Any, settings: dict[str, Any]) -> Any:
    """Create a Comet experiment without ending the ones already open.

    Comet keeps one "global" experiment per process and ENDS it whenever another is
    created, so the member runs of a vmapped population (open side by side) lost
    whatever the earlier members had not yet written. The global slot is emptied
    while ours is created and given back afterwards: no experiment is ended behind
    anyone's back, ours included.
    """
    from comet_ml.config import get_global_experiment, set_global_experiment

    previous = get_global_experiment()
    set_global_experiment(None)
    try:
        return kind(**settings)
    finally:
        set_global_experiment(previous)


def default_name(given: str | None, run: str, metadata: dict[str, Any], suffix: str) -> str:
    """`given` or `<Algorithm>_<Env>_<N>steps` (or the run name), plus the member suffix."""
    if given is not None:
        return given + suffix
    algorithm, env, total = (metadata.get(k) for k in ("algorithm", "env", "total_timesteps"))
    if algorithm is None or env is None or total is None:
        return run
    return f"{algorithm}_{env}_{int(total)}steps{suffix}"
