"""The settings of a `LoggingCallback` that only its host side reads."""

from __future__ import annotations

import dataclasses
from typing import Any

from lerax.policy import AbstractPolicy

from ._backend import AbstractLoggingBackend


@dataclasses.dataclass(frozen=True)
class HostConfig:
    """The settings of a `LoggingCallback` that only its host side reads."""

    backends: tuple[AbstractLoggingBackend, ...]
    name: str | None
    policy_config: tuple[tuple[str, Any], ...]
    hparams: tuple[tuple[str, Any], ...]
    video_fps: float
    group_axes: int
    close_timeout: float


def policy_config(policy: AbstractPolicy | None) -> dict[str, Any]:
    """The policy's class and architecture, for the logged hyper-parameters."""
    if policy is None:
        return {}
    out: dict[str, Any] = {"policy": type(policy).__name__}
    for field in ("hidden", "activation"):
        value = getattr(policy, field, None)
        if value is not None:
            out[f"policy/{field}"] = getattr(value, "__name__", str(value))
    return out
