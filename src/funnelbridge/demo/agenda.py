"""The sales floor's calendar: follow-ups the simulated reps promised themselves (qualify after the discovery call,
open the deal, move it, close it, ask a happy customer for a review). Only in-flight work is held, so its size is
bounded by the pipeline, not by the market."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Literal

from funnelbridge.demo.sales import DealPlan

__all__ = ["Agenda", "Task", "TaskKind"]

TaskKind = Literal["qualify", "open_deal", "move_deal", "close_deal", "advocate"]


@dataclass(frozen=True, order=True)
class Task:
    """One follow-up, due on simulated ``day``; ``seq`` keeps equal days in the order they were planned."""

    day: int
    seq: int
    kind: TaskKind = field(compare=False)
    pid: int = field(compare=False)
    contact_id: int = field(compare=False)
    rep: str = field(compare=False)
    bant: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    deal_id: int | None = field(default=None, compare=False)
    plan: DealPlan | None = field(default=None, compare=False)
    step: int = field(default=0, compare=False)


@dataclass
class Agenda:
    _heap: list[Task] = field(default_factory=list)
    _seq: int = 0

    def plan(self, day: int, kind: TaskKind, pid: int, contact_id: int, rep: str, **extra: object) -> Task:
        self._seq += 1
        task = Task(day, self._seq, kind, pid, contact_id, rep, **extra)  # type: ignore[arg-type]
        heapq.heappush(self._heap, task)
        return task

    def due(self, day: int) -> list[Task]:
        """Pop every task due on or before ``day``, in order."""
        out = []
        while self._heap and self._heap[0].day <= day:
            out.append(heapq.heappop(self._heap))
        return out

    def __len__(self) -> int:
        return len(self._heap)
