"""Ordered event funnels over a raw event log, written once in Ibis (PostHog's funnel semantics).

::

    spec = FunnelSpec((Step("signup"), Step("pageview", (("path", "/pricing"),)), Step("purchase")),
                      window=timedelta(days=7), order=Order.ORDERED)
    exprs = funnel_expressions(events_table, spec)   # pure Ibis, any backend
    result = run_funnel(events_table, spec)          # executes on the table's backend
    result.to_json_dict()

Semantics (details and the PostHog evidence in docs/event-funnels.md): every step-1 event of a person opens an
attempt whose window runs from that event, inclusive at its end; a person counts once, at the furthest step
their best attempt reaches, with times and breakdown value from that attempt; an exclusion event inside an
attempt's excluded range disqualifies the attempt, and the person when no clean attempt reaches as far.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from funnelbridge.analytics.event_funnel_attempts import Keep, identity
from funnelbridge.analytics.event_funnel_counted import counted_attempts
from funnelbridge.analytics.event_funnel_prepare import prepare_events
from funnelbridge.analytics.event_funnel_spec import FunnelSpec
from funnelbridge.analytics.event_funnel_stats import (
    OVERALL,
    FunnelExpressions,
    median_table,
    step_table,
    with_durations,
)

__all__ = [
    "FunnelExpressions",
    "FunnelResult",
    "StepResult",
    "funnel_expressions",
    "person_table",
    "run_funnel",
    "summarize",
]


@dataclass(frozen=True)
class StepResult:
    """One step of a funnel result; times in seconds from the previous step (None for step 1 or no data)."""

    name: str
    count: int
    conversion_from_previous: float
    conversion_from_first: float
    average_seconds_to_convert: float | None
    median_seconds_to_convert: float | None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "count": self.count,
            "conversion_from_previous": self.conversion_from_previous,
            "conversion_from_first": self.conversion_from_first,
            "average_seconds_to_convert": self.average_seconds_to_convert,
            "median_seconds_to_convert": self.median_seconds_to_convert,
        }


@dataclass(frozen=True)
class FunnelResult:
    """Overall steps, and per breakdown value (only when the spec has a breakdown)."""

    steps: tuple[StepResult, ...]
    breakdown: Mapping[str, tuple[StepResult, ...]] | None = field(default=None)

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"steps": [s.to_json_dict() for s in self.steps]}
        if self.breakdown is not None:
            out["breakdown"] = {v: {"steps": [s.to_json_dict() for s in st]} for v, st in self.breakdown.items()}
        return out


def person_table(events: ir.Table, spec: FunnelSpec, keep: Keep = identity) -> ir.Table:
    """One row per counted person: ``pid, bk, reach, t1..tN, d2..dN`` (seconds from the previous step)."""
    ev = keep(prepare_events(events, spec))
    return keep(with_durations(counted_attempts(ev, spec, keep), len(spec.steps)))


def funnel_expressions(
    events: ir.Table, spec: FunnelSpec, *, by_breakdown: bool = False, keep: Keep = identity
) -> FunnelExpressions:
    """The funnel as Ibis expressions over ``events`` (columns person_id, event, timestamp, properties).

    With the default ``keep`` the result is one pure expression per summary; :func:`run_funnel` passes a hook
    that materialises each stage once on the engine.
    """
    n = len(spec.steps)
    persons = person_table(events, spec, keep)
    return FunnelExpressions(persons, step_table(persons, n, by_breakdown), median_table(persons, n, by_breakdown))


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, 6)


def _steps(spec: FunnelSpec, row: Mapping[str, Any], medians: Mapping[int, float]) -> tuple[StepResult, ...]:
    counts = [int(row.get(f"c{k}") or 0) for k in range(1, len(spec.steps) + 1)]
    out = []
    for k, step in enumerate(spec.steps, 1):
        prev = counts[k - 2] if k > 1 else counts[0]
        out.append(
            StepResult(
                name=step.name,
                count=counts[k - 1],
                conversion_from_previous=_ratio(counts[k - 1], prev),
                conversion_from_first=_ratio(counts[k - 1], counts[0]),
                average_seconds_to_convert=_seconds(row.get(f"a{k}")) if k > 1 else None,
                median_seconds_to_convert=_seconds(medians.get(k)) if k > 1 else None,
            )
        )
    return tuple(out)


def summarize(
    spec: FunnelSpec, step_rows: list[dict[str, Any]], median_rows: list[dict[str, Any]]
) -> dict[str, tuple[StepResult, ...]]:
    """Turn executed summary rows into steps per group value."""
    medians: dict[str, dict[int, float]] = {}
    for m in median_rows:
        medians.setdefault(str(m["g"]), {})[int(m["k"])] = m["median"]
    groups = {str(r["g"]): _steps(spec, r, medians.get(str(r["g"]), {})) for r in step_rows}
    return dict(sorted(groups.items(), key=lambda kv: (-kv[1][0].count, kv[0])))


def _records(table: ir.Table | None) -> list[dict[str, Any]]:
    if table is None:
        return []
    with warnings.catch_warnings():  # PySpark 4 warns on every toPandas() under pandas 3; results are plain
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        frame = table.execute()
    return [{k: (None if _is_missing(v) else v) for k, v in rec.items()} for rec in frame.to_dict("records")]


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _summaries(persons: ir.Table, spec: FunnelSpec, by_breakdown: bool) -> dict[str, tuple[StepResult, ...]]:
    n = len(spec.steps)
    rows = _records(step_table(persons, n, by_breakdown))
    return summarize(spec, rows, _records(median_table(persons, n, by_breakdown)))


#: Engines whose planner takes the whole person table as one statement (and reuses shared subqueries): there,
#: only the person table is materialised. Elsewhere every stage is (SQLite's parser cannot take the nesting;
#: PostgreSQL and Spark would recompute a shared stage for each of its readers). Funnels with exclusions are
#: materialised stage by stage everywhere: each step's lookup reads the previous step's holders
#: (event_funnel_holders), and inlined into one statement that chain grows the SQL faster than the steps.
ONE_STATEMENT = frozenset({"duckdb"})


class _Stages:
    """Materialises each stage once on the engine (``Table.cache``) and releases them all afterwards.

    On Spark a cached stage keeps its whole lineage, so the plan of stage k carries every stage before it (the
    driver ran out of heap printing it); there a stage is a local checkpoint instead, which cuts the lineage.
    """

    def __init__(self) -> None:
        self.cached: list[Any] = []
        self.views: list[tuple[Any, str, Any]] = []

    def __call__(self, table: ir.Table) -> ir.Table:
        backend = table._find_backend()
        if backend.name == "pyspark":
            return self._checkpoint(backend, table)
        cached = table.cache()
        self.cached.append(cached)
        return cached

    def _checkpoint(self, backend: Any, table: ir.Table) -> ir.Table:
        name = f"fb_stage_{uuid.uuid4().hex[:12]}"
        frame = backend._session.sql(backend.compile(table)).localCheckpoint(eager=True)
        frame.createOrReplaceTempView(name)
        self.views.append((backend, name, frame))
        return backend.table(name)

    def release(self) -> None:
        for cached in reversed(self.cached):
            cached.release()
        for backend, name, frame in reversed(self.views):
            backend._session.catalog.dropTempView(name)
            frame.unpersist()


def _backend_name(table: ir.Table) -> str:
    return str(table._find_backend().name)


def run_funnel(events: ir.Table, spec: FunnelSpec) -> FunnelResult:
    """Execute the funnel on the backend of ``events`` and return named results."""
    stages = _Stages()
    try:
        if _backend_name(events) in ONE_STATEMENT and not spec.exclusions:
            persons = stages(person_table(events, spec))
        else:
            persons = person_table(events, spec, stages)
        steps = _summaries(persons, spec, by_breakdown=False).get(OVERALL) or _steps(spec, {}, {})
        if spec.breakdown is None:
            return FunnelResult(steps)
        return FunnelResult(steps, _summaries(persons, spec, by_breakdown=True))
    finally:
        stages.release()
