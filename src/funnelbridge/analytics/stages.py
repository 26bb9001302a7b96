"""The stage funnel: how many journeys reached each stage, stage-to-stage and cumulative conversion, by cohort
and split by a dimension.

Counting rules (DESIGN.md §2):

* a journey that reached a stage passed every earlier one (skipped stages count as passed); ``Order.STRICT``
  instead drops, from a stage on, the journeys that skipped it or any earlier stage;
* a recycled lead that comes back is one lead with two journeys: each journey counts once;
* ``Basis.COHORT`` (the default) selects the journeys that *entered* the funnel in the period and counts every stage
  they reached up to ``as_of``, even after the period ended; ``Basis.PERIOD`` counts the journeys that reached each
  stage inside the period (a flow view — its "conversion" mixes cohorts and is labelled so);
* conversion A→B = reached B / reached A within the same group.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.periods import Grain, Period, buckets, epoch, in_period
from funnelbridge.analytics.tables import (
    Context,
    Dimension,
    as_int,
    dimension_column,
    flag,
    journey_tops,
    journeys,
    journeys_ready,
    reach,
    seconds,
    skipped,
)

__all__ = [
    "ALL",
    "Basis",
    "FunnelGroup",
    "Order",
    "StageCount",
    "StageFunnel",
    "StageFunnelSpec",
    "stage_funnel",
    "stage_funnel_views",
]

ALL = "all"
_DAY = 86_400


class Order(StrEnum):
    ANY = "any"
    STRICT = "strict"


class Basis(StrEnum):
    COHORT = "cohort"
    PERIOD = "period"


@dataclass(frozen=True)
class StageFunnelSpec:
    order: Order = Order.ANY
    basis: Basis = Basis.COHORT
    cohort: Grain | None = None
    by: Dimension | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if v is None else str(v)) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class StageCount:
    stage: str
    reached: int
    step_conversion: float | None
    cumulative_conversion: float | None


@dataclass(frozen=True)
class FunnelGroup:
    """One funnel: all journeys, one cohort, one dimension value, or one (cohort, value) pair."""

    cohort: str
    segment: str
    journeys: int
    maturity_days: float | None
    counts: tuple[StageCount, ...]

    def reached(self, stage: str) -> int:
        return next(c.reached for c in self.counts if c.stage == stage)

    def conversion(self, a: str, b: str) -> float | None:
        base = self.reached(a)
        return None if base == 0 else self.reached(b) / base


@dataclass(frozen=True)
class StageFunnel:
    spec: StageFunnelSpec
    period: Period
    stages: tuple[str, ...]
    total: FunnelGroup
    groups: tuple[FunnelGroup, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "period": self.period.to_dict(),
            "stages": list(self.stages),
            "total": asdict(self.total),
            "groups": [asdict(g) for g in self.groups],
        }


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _counts(stages: tuple[str, ...], reached: list[int]) -> tuple[StageCount, ...]:
    first = reached[0] if reached else 0
    return tuple(
        StageCount(s, reached[i], None if i == 0 else _ratio(reached[i], reached[i - 1]), _ratio(reached[i], first))
        for i, s in enumerate(stages)
    )


def _effective(jt: ir.Table, ctx: Context, spec: StageFunnelSpec) -> dict[str, ir.IntegerValue]:
    """The instant that counts at each stage for this spec (null when the journey does not count there)."""
    cols: dict[str, ir.IntegerValue] = {}
    clean: ir.BooleanValue = ibis.literal(True)
    for i in range(len(ctx.stages)):
        value = jt[reach(i)]
        if spec.order is Order.STRICT:
            clean = clean & ~skipped(jt, ctx.stages[i])
            value = ibis.cases((clean, value), else_=ibis.null("int64"))
        cols[reach(i)] = value
    return cols


def _span(ctx: Context, period: Period) -> tuple[int, int] | None:
    """First and last entry instant to cover with cohort buckets: the period itself when bounded, else the data's."""
    if period.start_s is not None and period.end_s is not None:
        return period.start_s, min(period.end_s - 1, epoch(ctx.as_of))
    tr = ctx.table("transitions")
    tr = tr.filter((tr.pipeline == ctx.pipeline_name) & tr.to_stage.isin(list(ctx.stages)))
    ep = seconds(tr.at)
    span = tr.aggregate(lo=ep.min(), hi=ep.max()).execute()
    lo, hi = span["lo"].iloc[0], span["hi"].iloc[0]
    if lo is None or hi is None or lo != lo:
        return None
    lo = max(int(lo), period.start_s) if period.start_s is not None else int(lo)
    hi = min(int(hi), period.end_s - 1) if period.end_s is not None else int(hi)
    return lo, min(hi, epoch(ctx.as_of))


def _cohort_labels(ctx: Context, jt: ir.Table, grain: Grain, period: Period) -> ir.StringValue:
    span = _span(ctx, period)
    if span is None or span[1] < span[0]:
        return ibis.literal(ALL)
    first, last = (datetime.fromtimestamp(v, UTC) for v in span)
    cases = [(jt.entered < b.end_s, b.label) for b in buckets(grain, first, last, ctx.tz)]
    return ibis.cases(*cases, else_=ALL) if cases else ibis.literal(ALL)


def _prepared(ctx: Context, spec: StageFunnelSpec, period: Period) -> ir.Table:
    """One flat projection of the journeys: 0/1 per stage, age, cohort label and dimension value."""
    if spec.order is Order.ANY and spec.basis is Basis.COHORT and not journeys_ready(ctx):
        jt = journey_tops(ctx)
        jt = jt.filter(in_period(jt.entered, period))
        marks = {reach(i): flag(jt.top >= i) for i in range(len(ctx.stages))}
        return _flat(ctx, spec, period, jt, marks)
    jt = journeys(ctx, materialize=False)
    reached = _effective(jt, ctx, spec)
    if spec.basis is Basis.COHORT:
        jt = jt.filter(in_period(jt.entered, period))
        marks = {name: flag(value.notnull()) for name, value in reached.items()}
    else:
        marks = {name: flag(in_period(value, period)) for name, value in reached.items()}
    return _flat(ctx, spec, period, jt, marks)


def _flat(ctx: Context, spec: StageFunnelSpec, period: Period, jt: ir.Table, marks: dict[str, Any]) -> ir.Table:
    cohort = _cohort_labels(ctx, jt, spec.cohort, period) if spec.cohort else ibis.literal(ALL)
    flat = jt.select("contact_id", age=ibis.literal(epoch(ctx.as_of)) - jt.entered, cohort=cohort, **marks)
    if spec.by is not None:
        return dimension_column(ctx, flat, spec.by)
    return flat.mutate(dim=ibis.literal(ALL))


def _aggregate(jt: ir.Table, keys: list[str], n: int) -> Any:
    aggs: dict[str, Any] = {reach(i): jt[reach(i)].sum() for i in range(n)}
    aggs["journeys"] = jt.count()
    aggs["age"] = jt.age.mean()
    if keys:
        return jt.group_by(keys).aggregate(**aggs).execute()
    return jt.aggregate(**aggs).execute()


def _group(row: Any, stages: tuple[str, ...], cohort: str, segment: str) -> FunnelGroup:
    reached = [as_int(row[reach(i)]) for i in range(len(stages))]
    age = row["age"]
    maturity = None if age is None or age != age else round(float(age) / _DAY, 1)
    return FunnelGroup(cohort, segment, as_int(row["journeys"]), maturity, _counts(stages, reached))


def _total(groups: list[FunnelGroup], stages: tuple[str, ...]) -> FunnelGroup:
    """All groups together (they are disjoint): counts add up, maturity is the journey-weighted mean."""
    n = sum(g.journeys for g in groups)
    reached = [sum(g.counts[i].reached for g in groups) for i in range(len(stages))]
    aged = [(g.maturity_days, g.journeys) for g in groups if g.maturity_days is not None]
    weight = sum(w for _, w in aged)
    maturity = round(sum(m * w for m, w in aged) / weight, 1) if weight else None
    return FunnelGroup(ALL, ALL, n, maturity, _counts(stages, reached))


def _run(ctx: Context, period: Period, spec: StageFunnelSpec) -> list[FunnelGroup]:
    stages = ctx.stages
    jt = _prepared(ctx, spec, period)
    if spec.basis is Basis.PERIOD:
        active = sum((jt[reach(i)] for i in range(1, len(stages))), jt[reach(0)])
        jt = jt.filter(active > 0)
    frame = _aggregate(jt, ["cohort", "dim"], len(stages))
    rows = frame.sort_values(["cohort", "dim"]) if len(frame) else frame
    return [_group(r, stages, str(r["cohort"]), str(r["dim"])) for _, r in rows.iterrows()]


def stage_funnel(ctx: Context, period: Period, spec: StageFunnelSpec | None = None) -> StageFunnel:
    """Run the stage funnel for ``period`` (see the module docstring for the counting rules). One query: the
    groups (cohort × dimension value); the total is their sum."""
    spec = spec or StageFunnelSpec()
    groups = _run(ctx, period, spec)
    shown = tuple(groups) if spec.cohort is not None or spec.by is not None else ()
    return StageFunnel(spec, period, ctx.stages, _total(groups, ctx.stages), shown)


def _roll(groups: list[FunnelGroup], stages: tuple[str, ...], key: str) -> tuple[FunnelGroup, ...]:
    names = sorted({getattr(g, key) for g in groups})
    out = []
    for name in names:
        part = _total([g for g in groups if getattr(g, key) == name], stages)
        out.append(FunnelGroup(name if key == "cohort" else ALL, name if key == "segment" else ALL,
                               part.journeys, part.maturity_days, part.counts))  # fmt: skip
    return tuple(out)


def stage_funnel_views(
    ctx: Context, period: Period, *, order: Order = Order.ANY, cohort: Grain | None = None, by: Dimension | None = None
) -> tuple[StageFunnel, StageFunnel | None, StageFunnel | None]:
    """The total funnel, the cohorts and the split by ``by`` from **one** query grouped by (cohort, value)."""
    both = StageFunnelSpec(order=order, cohort=cohort, by=by)
    groups = _run(ctx, period, both)
    stages = ctx.stages
    total = StageFunnel(StageFunnelSpec(order=order), period, stages, _total(groups, stages), ())
    cohorts = None
    if cohort is not None:
        spec = StageFunnelSpec(order=order, cohort=cohort)
        cohorts = StageFunnel(spec, period, stages, total.total, _roll(groups, stages, "cohort"))
    split = None
    if by is not None:
        spec = StageFunnelSpec(order=order, by=by)
        split = StageFunnel(spec, period, stages, total.total, _roll(groups, stages, "segment"))
    return total, cohorts, split
