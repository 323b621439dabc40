"""Names no other run picks: default run names and per-writer file suffixes.

Two processes started in the same second (a sweep launcher, two shells, a job
array) must not share a default run name, and two writers of one run directory
(two processes logging to the same `log_dir` and `name`) must not share a file:
a second's timestamp alone gives both the same name, and the second writer's
file would replace the first's. A short random part (and, for files, the process
id) makes them distinct.
"""

from __future__ import annotations

import os
import secrets
import time


def run_stamp() -> str:
    """`<YYYYmmdd-HHMMSS>-<6 hex digits>`, the tail of a default run name.

    Sorts by time; the random part (16.7 million values) tells apart runs started
    in the same second.
    """
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def writer_suffix() -> str:
    """`.<pid>.<8 hex digits>`: appended to a file name that one writer owns."""
    return f".{os.getpid()}.{secrets.token_hex(4)}"
