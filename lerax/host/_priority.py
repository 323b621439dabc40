"""Host threads that work beside training yield the CPU to it.

Writers (logging backends, checkpoint and video writers) run on threads of their
own while the compiled program trains. On a machine with few cores they compete
with XLA's compute threads; at a lower scheduling priority they run in the cores'
idle time instead and still finish (a lower priority is a smaller share under
contention, never zero). Linux schedules each thread on its own, so the niceness
of one thread can be raised without touching the others; elsewhere this does
nothing.
"""

from __future__ import annotations

import os
import sys
import threading

#: Niceness added to each writer thread when it starts (0: same priority as training).
WRITER_NICENESS = 10


def lower_this_thread() -> int | None:
    """Set the calling thread's niceness to the process's (its main thread's) plus
    `WRITER_NICENESS` (Linux only). Relative to the process, not to the thread that
    started this one (threads inherit their creator's niceness): a writer started
    by another writer is not lowered twice.

    Returns:
        The thread's new niceness, or None where it was left alone (another OS,
        `WRITER_NICENESS` 0, or the OS refused).
    """
    if WRITER_NICENESS <= 0 or not sys.platform.startswith("linux"):
        return None
    thread_id = threading.get_native_id()
    try:
        niceness = os.getpriority(os.PRIO_PROCESS, os.getpid()) + WRITER_NICENESS
        os.setpriority(os.PRIO_PROCESS, thread_id, niceness)
        return os.getpriority(os.PRIO_PROCESS, thread_id)
    except OSError:  # e.g. a sandbox that forbids it: keep the default priority
        return None
