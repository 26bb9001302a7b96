"""The report printed after a demo run: the analytics funnel report when the analytics package provides one,
else a basic count of journeys per stage (reached, skipped stages counting as passed) read from the transitions.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import transitions

__all__ = [
    "StageCounts",
    "analytics_render_function",
    "analytics_report_function",
    "build_report",
    "stage_counts",
]


@dataclass(frozen=True)
class StageCounts:
    """Journeys (contact × journey) that reached each stage of the main pipeline, in stage order, and detours."""

    pipeline: str
    stages: tuple[tuple[str, int], ...]
    detours: tuple[tuple[str, int], ...]

    def reached(self, stage: str) -> int:
        return dict(self.stages + self.detours).get(stage, 0)


def stage_counts(rt: Runtime) -> StageCounts:
    """Count, streaming the transitions, how many journeys reached each stage (skipped stages count as passed)."""
    pipe_name, pipe = rt.playbook.main_name, rt.playbook.main
    reached: dict[str, set[tuple[int, int]]] = defaultdict(set)
    t = transitions.c
    query = select(t.contact_id, t.journey, t.to_stage, t.skipped).where(t.pipeline == pipe_name)
    with rt.db.read() as conn:
        for row in conn.execution_options(yield_per=10_000).execute(query):
            key = (row.contact_id, row.journey)
            reached[row.to_stage].add(key)
            for stage in row.skipped or ():
                reached[stage].add(key)
    stages = tuple((s, len(reached.get(s, ()))) for s in pipe.stage_ids)
    detours = tuple((d, len(reached.get(d, ()))) for d in pipe.detours)
    return StageCounts(pipe_name, stages, detours)


def _find(names: tuple[str, ...], attr: str) -> Any:
    for name in names:
        try:
            found = getattr(importlib.import_module(name), attr, None)
        except ModuleNotFoundError:
            continue
        if found is not None:
            return found
    return None


def analytics_report_function() -> Any:
    """``funnel_report`` of the analytics package, or None when it is not installed."""
    return _find(("funnelbridge.analytics", "funnelbridge.analytics.report"), "funnel_report")


def analytics_render_function() -> Any:
    """``render_report`` of the analytics package, or None when it is not installed."""
    return _find(("funnelbridge.analytics", "funnelbridge.analytics.render"), "render_report")


def build_report(rt: Runtime) -> Any:
    """The analytics ``funnel_report`` of the whole run as of the simulated now, else :func:`stage_counts`."""
    funnel_report = analytics_report_function()
    if funnel_report is None or analytics_render_function() is None:
        return stage_counts(rt)
    return funnel_report(rt, rt.playbook, as_of=rt.clock.now())
