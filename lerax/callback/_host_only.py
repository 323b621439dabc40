"""Host-only settings of a callback (kept out of the compiled program's cache key) and the
names of vmapped members in host output."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import numpy as np

from lerax.host import member_label as member_label  # re-exported for the callbacks

T = TypeVar("T")


class HostOnly(Generic[T]):
    """Wrap a value that only the host side of a callback reads (a stream, an output
    directory, a frame rate).

    Store it in a static field. Every `HostOnly` compares equal to every other one
    and hashes the same, so changing the wrapped value does not change the callback's
    treedef: `learn` reuses the compiled program instead of tracing it again. The
    device-side hooks must therefore never read `value` (nor derive a channel name
    from it); only `host_receivers` may.

    Args:
        value: The host-only value.
    """

    __slots__ = ("value",)

    def __init__(self, value: T):
        self.value = value

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, HostOnly)

    def __hash__(self) -> int:
        return hash(HostOnly)

    def __repr__(self) -> str:
        return f"HostOnly({self.value!r})"


def member_prefix(index: np.ndarray, row: int) -> str:
    """`"[i] "` (`"[i/j] "` for nested vmaps) naming the member of a host row; empty
    for a plain run."""
    return "" if index.shape[1] == 0 else f"[{'/'.join(map(str, index[row]))}] "
