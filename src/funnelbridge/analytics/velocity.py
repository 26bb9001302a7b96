"""Velocity: time between stages, time in the current stage, stalled leads, sales-cycle length.

* Time between stages A → B is measured on journeys that *entered* both A and B directly (a skipped stage has no
  time of its own), from entering A to entering B; the journeys are the cohort that entered the funnel in the period.
* The current stage of a contact is the target of its latest transition (detours included); time in stage runs
  from that transition to ``as_of``. A lead is stalled when that time exceeds the playbook's ``stall_after`` limit.
* Sales cycle: deal opened → won (closed deals in the period), and first funnel entry → customer per journey.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.periods import Period, epoch
from funnelbridge.analytics.quantiles import Summary, summarize
from funnelbridge.analytics.tables import Context, entry, journeys, live_transitions, reach, seconds

__all__ = ["StageDwell", "StageGap", "Velocity", "velocity"]

_DAY = 86_400


@dataclass(frozen=True)
class StageGap:
    """Days from entering ``from_stage`` to entering ``to_stage``."""

    from_stage: str
    to_stage: str
    days: Summary


@dataclass(frozen=True)
class StageDwell:
    """Leads currently in ``stage``: how long they have been there, and how many exceed the stall limit."""

    stage: str
    current: int
    days: Summary
    stall_limit_days: float | None
    stalled: int


@dataclass(frozen=True)
class Velocity:
    period: Period
    gaps: tuple[StageGap, ...]
    dwell: tuple[StageDwell, ...]
    deal_cycle_days: Summary
    lead_to_customer_days: Summary

    @property
    def stalled_total(self) -> int:
        return sum(d.stalled for d in self.dwell)

    def gap(self, a: str, b: str) -> StageGap:
        return next(g for g in self.gaps if g.from_stage == a and g.to_stage == b)

    def to_dict(self) -> dict[str, Any]:
        return {"period": self.period.to_dict(), **{k: v for k, v in asdict(self).items() if k != "period"}}


def _cohort(ctx: Context, period: Period) -> ir.Table:
    jt = journeys(ctx)
    if period.start_s is not None:
        jt = jt.filter(jt.entered >= period.start_s)
    if period.end_s is not None:
        jt = jt.filter(jt.entered < period.end_s)
    return jt


def _gaps(ctx: Context, jt: ir.Table) -> tuple[StageGap, ...]:
    stages = ctx.stages
    parts = [
        jt.filter(jt[entry(i)].notnull() & jt[entry(i + 1)].notnull()).select(
            pair=ibis.literal(i), d=jt[entry(i + 1)] - jt[entry(i)]
        )
        for i in range(len(stages) - 1)
    ]
    long = ibis.union(*parts) if len(parts) > 1 else parts[0]
    found = summarize(ctx, long, "d", ["pair"])
    out = []
    for i in range(len(stages) - 1):
        summary = found.get((i,), Summary.empty())
        out.append(StageGap(stages[i], stages[i + 1], summary.scaled(1 / _DAY)))
    return tuple(out)


def current_stages(ctx: Context) -> ir.Table:
    """contact_id, stage, since (epoch s): the latest transition of each contact in the pipeline up to as_of."""
    tr = live_transitions(ctx)
    tr = tr.mutate(ep=seconds(tr.at))
    tr = tr.filter(tr.ep <= epoch(ctx.as_of))
    ranked = tr.mutate(rn=ibis.row_number().over(group_by=tr.contact_id, order_by=[tr.ep.desc(), tr.id.desc()]))
    latest = ranked.filter(ranked.rn == 0)
    return latest.select("contact_id", stage=latest.to_stage, since=latest.ep)


def _dwell(ctx: Context) -> tuple[StageDwell, ...]:
    key = ("current_stages", ctx.pipeline_name, epoch(ctx.as_of))
    cur = ctx.engine.cached(key, lambda: current_stages(ctx))  # read twice: the summaries and the stalled counts
    cur = cur.mutate(age=ibis.literal(epoch(ctx.as_of)) - cur.since)
    found = summarize(ctx, cur, "age", ["stage"])
    limits = {s: ctx.pipeline.stall_limit(s) for s in ctx.stages}
    seconds_limit = {s: int(v.total_seconds()) for s, v in limits.items() if v is not None}
    stalled: dict[str, int] = {}
    if seconds_limit:
        over = ibis.cases(*((cur.stage == s, lim) for s, lim in seconds_limit.items()), else_=ibis.null("int64"))
        hit = ibis.cases((over.notnull() & (cur.age > over), 1), else_=0)
        frame = cur.group_by("stage").aggregate(stalled=hit.sum()).execute()
        stalled = {str(r.stage): int(r.stalled) for r in frame.itertuples()}
    out = []
    for stage in (*ctx.stages, *ctx.pipeline.detours):
        summary = found.get((stage,), Summary.empty())
        limit = seconds_limit.get(stage)
        limit_days = None if limit is None else limit / _DAY
        out.append(StageDwell(stage, summary.n, summary.scaled(1 / _DAY), limit_days, stalled.get(stage, 0)))
    return tuple(out)


def _deal_cycle(ctx: Context, period: Period) -> Summary:
    deals = ctx.table("deals")
    won = deals.filter((deals.status == "won") & deals.closed_at.notnull())
    won = won.mutate(closed=seconds(won.closed_at), d=seconds(won.closed_at) - seconds(won.opened_at))
    if period.start_s is not None:
        won = won.filter(won.closed >= period.start_s)
    if period.end_s is not None:
        won = won.filter(won.closed < period.end_s)
    return summarize(ctx, won, "d").get((), Summary.empty()).scaled(1 / _DAY)


def velocity(ctx: Context, period: Period) -> Velocity:
    """Velocity of the journeys that entered in ``period`` (see the module docstring for the definitions)."""
    jt = _cohort(ctx, period)
    customer = ctx.stages.index("customer") if "customer" in ctx.stages else len(ctx.stages) - 1
    to_customer = jt.mutate(d=jt[reach(customer)] - jt.entered)
    lead_to_customer = summarize(ctx, to_customer, "d").get((), Summary.empty()).scaled(1 / _DAY)
    return Velocity(period, _gaps(ctx, jt), _dwell(ctx), _deal_cycle(ctx, period), lead_to_customer)
