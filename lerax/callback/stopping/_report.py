"""The host side of the stopping callbacks: one printed line per stopped member."""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from .._host_only import member_prefix


class StopPrinter:
    """Host receiver printing one line per stopped member.

    Args:
        name: The callback's name, starting the line.
        describe: Maps one row (dict of numpy scalars) to the message.
    """

    def __init__(self, name: str, describe: Callable[[dict[str, np.ndarray]], str]):
        self.name = name
        self.describe = describe

    def __call__(self, rows: dict[str, np.ndarray], index: np.ndarray) -> None:
        for r in range(index.shape[0]):
            row = {k: np.asarray(v)[r] for k, v in rows.items()}
            print(
                f"{member_prefix(index, r)}{self.name}: {self.describe(row)}; training stops "
                f"after iteration {int(row['iteration'])} ({int(row['timesteps'])} steps).",
                file=sys.stdout,
                flush=True,
            )
