"""How many iterations the compiled program should run before its next crossing."""

from __future__ import annotations


class Pace:
    """The host's answer to "when should you cross next?", in iterations.

    From the iterations per second measured between the last two crossings, the
    interval that gives about `per_second` crossings a second (at least 1 iteration).
    A crossing is something the compiled program waits for (costly on XLA:CPU, see
    `benchmarks/README.md`; a device sync on a GPU), so the host asks for as few as a
    person watching needs.

    Args:
        per_second: The wanted number of crossings per second (> 0).
    """

    def __init__(self, per_second: float):
        self.per_second = per_second
        self.last: tuple[int, float] | None = None

    def __call__(self, iteration: int, now: float, *, restart: bool = False) -> int:
        """Record a crossing at `iteration`, time `now` (s); return the next interval.

        Args:
            iteration: The iteration the program had completed at this crossing.
            now: The host time of the crossing (`time.perf_counter()`).
            restart: Forget the previous crossing (a new training call started).

        Returns:
            Iterations to run before the next crossing (>= 1).
        """
        last, self.last = self.last, (iteration, now)
        if restart or last is None or iteration <= last[0] or now <= last[1]:
            return 1
        iterations_per_second = (iteration - last[0]) / (now - last[1])
        return int(min(max(round(iterations_per_second / self.per_second), 1), 1_000_000))
