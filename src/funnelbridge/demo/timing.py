"""Where a demo run's time goes, per part of the simulated day: CPU seconds of this process, wall seconds, and —
where Linux reports it (``/proc/self/task/*/schedstat``) — the seconds its threads were ready to run but waited
for a CPU (other processes on a loaded machine). What is left of the wall time after CPU and that wait is time
the run was blocked: disk (SQLite's fsyncs and page reads, the kernel throttling a process that dirties pages
faster than the disk takes them), locks, sleeps. ``/proc/self/io``'s ``write_bytes`` says how much each part made
the kernel write to storage (WAL frames, checkpoints)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["PartTimes", "runqueue_seconds", "written_bytes"]

T = TypeVar("T")


def runqueue_seconds() -> float | None:
    """Seconds this process's threads have waited on a run queue so far (None where the kernel does not say)."""
    total = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def written_bytes() -> int | None:
    """Bytes this process has caused to be written to storage so far (None where the kernel does not say)."""
    try:
        with open("/proc/self/io", encoding="ascii") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


@dataclass
class PartTimes:
    """CPU, wall, run-queue wait and blocked seconds and MB written per named part, summed over the run."""

    cpu: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)
    runqueue: dict[str, float] = field(default_factory=dict)
    written: dict[str, float] = field(default_factory=dict)

    def timed(self, part: str, work: Callable[[], T]) -> T:
        cpu, wall, queued, wrote = time.process_time(), time.perf_counter(), runqueue_seconds(), written_bytes()
        try:
            return work()
        finally:
            self._add(self.cpu, part, time.process_time() - cpu)
            self._add(self.wall, part, time.perf_counter() - wall)
            after, now_wrote = runqueue_seconds(), written_bytes()
            if queued is not None and after is not None:
                self._add(self.runqueue, part, after - queued)
            if wrote is not None and now_wrote is not None:
                self._add(self.written, part, (now_wrote - wrote) / 1e6)

    @staticmethod
    def _add(into: dict[str, float], part: str, seconds: float) -> None:
        into[part] = into.get(part, 0.0) + seconds

    def blocked(self) -> dict[str, float]:
        """Wall seconds neither on a CPU nor waiting for one, per part (only where the run-queue wait is known)."""
        return {p: max(0.0, self.wall[p] - self.cpu[p] - q) for p, q in self.runqueue.items()}

    def summary(self) -> dict[str, Any]:
        def rounded(d: dict[str, float]) -> dict[str, float]:
            return {k: round(v, 3) for k, v in sorted(d.items())}

        return {
            "wall": rounded(self.wall),
            "runqueue": rounded(self.runqueue),
            "blocked": rounded(self.blocked()),
            "written_mb": rounded(self.written),
        }
