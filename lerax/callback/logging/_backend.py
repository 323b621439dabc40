"""The logging backend interface (host side)."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np


class AbstractLoggingBackend(abc.ABC):
    """A destination for log events: TensorBoard, W&B, Comet, console, SQLite, ...

    Backends are plain Python objects that live on the host. Constructing one only
    records its configuration (no files, no network, no imports of optional
    packages beyond checking they are installed). The lifecycle of ONE run is
    `open(name)` -> `log_hparams` / `log_scalars` / `log_video` ... -> `close()`.

    For a vmapped population, `LoggingCallback` makes one shallow copy of the
    configured backend per member (`copy.copy`) BEFORE `open`, so every member gets
    its own run. Implementations must therefore keep all live resources (writers,
    run handles, connections) in attributes set by `open`, never in `__init__`.

    Each backend of a `LoggingCallback` (with every member run's copy of it) is called
    from a worker thread of its own, in program order, never concurrently for the
    same backend; different backends run side by side. Methods receive numpy /
    Python values, never JAX arrays. An exception raised by a backend (any, even
    `KeyboardInterrupt` or `SystemExit`) disables that backend (reported once); the
    other backends and training go on. At training end a backend gets
    `LoggingCallback(close_timeout=...)` seconds to finish before it is left behind.
    """

    @abc.abstractmethod
    def open(self, name: str, *, metadata: dict[str, Any] | None = None) -> None:
        """Start a run called `name` (create writers, files, run handles).

        Args:
            name: The run name, e.g. `"PPO_CartPole-v1_20261121-120000/seed_3"`.
            metadata: Facts about the run: `algorithm`, `env`, `total_timesteps`,
                `member_index` (tuple), `num_members`, `population` (the runs'
                common name) and `group` (the key of the aggregate run the member
                belongs to, e.g. `("aggregate",)`) ... (may be ignored).
        """

    @abc.abstractmethod
    def log_hparams(self, hparams: dict[str, Any]) -> None:
        """Record the run's hyper-parameters once (flat dict of str/int/float/bool)."""

    @abc.abstractmethod
    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        """Record scalar metrics at `step` (env timesteps so far)."""

    @abc.abstractmethod
    def log_video(self, tag: str, frames: np.ndarray, step: int, fps: float) -> None:
        """Record a video: `frames` is `uint8[T, H, W, 3]`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush everything and release resources. Must be safe to call twice."""

    def config(self) -> dict[str, Any]:
        """The backend's constructor configuration (for logs and checkpoints)."""
        return {
            "type": type(self).__name__,
            **{k: v for k, v in vars(self).items() if not k.startswith("_")},
        }


def require(module: str, extra: str, owner: str):
    """Import an optional dependency or raise an ImportError naming the extra.

    Args:
        module: The module to import, e.g. `"tensorboardX"`.
        extra: The lerax extra that installs it, e.g. `"tensorboard"`.
        owner: The class asking, for the message.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{owner} needs the `{module}` package: pip install 'lerax[{extra}]'"
        ) from error
