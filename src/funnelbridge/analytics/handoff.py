"""The handoff scorecard: does sales take what marketing hands over, how fast, and are the SLAs kept?

Definitions (the journeys are those that reached the *queue* stage — the stage before the handoff, MQL by default —
inside the period):

* accepted = the journey reached the handoff stage (SAL); rejected = a sales user moved it from the queue or
  handoff stage to a detour (recycled/disqualified) — the transition's reason is the rejection reason;
  acceptance rate = accepted / (accepted + rejected); pending = neither yet.
* time to accept = entering the queue stage → entering the handoff stage (hours).
* time to first touch = entering the *touch* stage (the first stage whose SLA has ``first_touch_within``, else the
  handoff stage) → the contact's first sales activity at or after it: an event of type call, email_sent or meeting,
  or a task marked done (hours).
* SLA breaches = timers of kind ``sla_breach`` that fired (not cancelled) in the period, per rep and per ISO week
  in the playbook's time zone. The rep is the contact's current owner.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.periods import Grain, Period, buckets, epoch, in_period
from funnelbridge.analytics.quantiles import Summary, summarize
from funnelbridge.analytics.tables import (
    Context,
    Dimension,
    as_int,
    dimension_column,
    entry,
    flag,
    journeys,
    live_transitions,
    reach,
    seconds,
)

__all__ = ["SALES_TOUCH_EVENTS", "HandoffScorecard", "ReasonCount", "RepScore", "WeekBreaches", "handoff_scorecard"]

SALES_TOUCH_EVENTS = ("call", "email_sent", "meeting")
_HOUR = 3_600


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    count: int
    share: float


@dataclass(frozen=True)
class RepScore:
    rep: str
    handed_over: int
    accepted: int
    rejected: int
    acceptance_rate: float | None
    median_hours_to_accept: float | None
    median_hours_to_first_touch: float | None
    sla_breaches: int


@dataclass(frozen=True)
class WeekBreaches:
    week: str
    breaches: int


@dataclass(frozen=True)
class HandoffScorecard:
    period: Period
    queue_stage: str | None
    handoff_stage: str | None
    touch_stage: str | None
    handed_over: int
    accepted: int
    rejected: int
    pending: int
    acceptance_rate: float | None
    rejection_reasons: tuple[ReasonCount, ...]
    hours_to_accept: Summary
    hours_to_first_touch: Summary
    sla_breaches: int
    breaches_by_week: tuple[WeekBreaches, ...]
    reps: tuple[RepScore, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"period": self.period.to_dict(), **{k: v for k, v in asdict(self).items() if k != "period"}}


def _rate(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _touch_stage(ctx: Context, handoff: str) -> str:
    start = ctx.stages.index(handoff)
    for stage in ctx.pipeline.stages[start:]:
        if stage.sla is not None and stage.sla.first_touch_within:
            return stage.id
    return handoff


def _rejections(ctx: Context, queue: str, handoff: str) -> ir.Table:
    tr = live_transitions(ctx)
    tr = tr.filter(
        tr.from_stage.isin([queue, handoff])
        & tr.to_stage.isin(list(ctx.pipeline.detours))
        & (tr.actor_role == "sales")
        & (seconds(tr.at) <= epoch(ctx.as_of))
    )
    return tr.select("contact_id", "journey", reason=ibis.coalesce(tr.reason, "(no reason)"))


def _touches(ctx: Context) -> ir.Table:
    ev = ctx.table("events")
    ev = ev.filter(ev.type.isin(list(SALES_TOUCH_EVENTS)) & ev.contact_id.notnull())
    tasks = ctx.table("tasks")
    tasks = tasks.filter(tasks.done_at.notnull() & tasks.contact_id.notnull())
    return ibis.union(
        ev.select(tc=ev.contact_id, tep=seconds(ev.occurred_at)),
        tasks.select(tc=tasks.contact_id, tep=seconds(tasks.done_at)),
    )


def _cohort(ctx: Context, period: Period, queue: str, handoff: str, touch: str) -> ir.Table:
    q, h, t = (ctx.stages.index(s) for s in (queue, handoff, touch))
    jt = journeys(ctx)
    jt = jt.filter(in_period(jt[reach(q)], period))
    rejected = _rejections(ctx, queue, handoff).select("contact_id", "journey").distinct()
    rejected = rejected.mutate(rj=ibis.literal(1))
    jt = jt.left_join(rejected, ["contact_id", "journey"]).drop("contact_id_right", "journey_right")
    jt = jt.mutate(
        acc=flag(jt[reach(h)].notnull()),
        rej=flag(jt[reach(h)].isnull() & jt.rj.notnull()),
        to_accept=jt[entry(h)] - jt[entry(q)],
        touch_at=jt[entry(t)],
    )
    touches = _touches(ctx)
    touched = jt.inner_join(touches, (jt.contact_id == touches.tc) & (touches.tep >= jt.touch_at))
    first = touched.group_by(["contact_id", "journey"]).aggregate(first_touch=(touched.tep - touched.touch_at).min())
    jt = jt.left_join(first, ["contact_id", "journey"]).drop("contact_id_right", "journey_right")
    return dimension_column(ctx, jt, Dimension.OWNER)


def _breaches(ctx: Context, period: Period) -> ir.Table:
    timers = ctx.table("timers")
    timers = timers.filter((timers.kind == "sla_breach") & timers.fired_at.notnull() & timers.cancelled_at.isnull())
    timers = timers.mutate(fep=seconds(timers.fired_at))
    timers = timers.filter(in_period(timers.fep, period) & (timers.fep <= epoch(ctx.as_of)))
    return dimension_column(ctx, timers.select("contact_id", "fep"), Dimension.OWNER)


def _weeks(ctx: Context, breaches: ir.Table) -> tuple[WeekBreaches, ...]:
    span = breaches.aggregate(lo=breaches.fep.min(), hi=breaches.fep.max()).execute()
    lo, hi = span["lo"].iloc[0], span["hi"].iloc[0]
    if lo is None or lo != lo:
        return ()
    weeks = buckets(Grain.WEEK, datetime.fromtimestamp(int(lo), UTC), datetime.fromtimestamp(int(hi), UTC), ctx.tz)
    label = ibis.cases(*((breaches.fep < b.end_s, b.label) for b in weeks), else_="later")
    frame = breaches.mutate(week=label).group_by("week").aggregate(n=ibis._.count()).execute()
    return tuple(WeekBreaches(str(r.week), int(r.n)) for r in frame.sort_values("week").itertuples())


def _hours(found: dict[tuple[Any, ...], Summary], key: tuple[Any, ...]) -> Summary:
    return found.get(key, Summary.empty()).scaled(1 / _HOUR, 1)


def _reps(ctx: Context, jt: ir.Table, breaches: ir.Table) -> tuple[RepScore, ...]:
    per = jt.group_by("dim").aggregate(n=jt.count(), acc=jt.acc.sum(), rej=jt.rej.sum()).execute()
    accept = summarize(ctx, jt, "to_accept", ["dim"])
    touch = summarize(ctx, jt, "first_touch", ["dim"])
    broken = breaches.group_by("dim").aggregate(n=breaches.count()).execute()
    by_rep = {str(r.dim): int(r.n) for r in broken.itertuples()}
    reps = []
    for row in per.itertuples():
        rep, acc, rej = str(row.dim), int(row.acc), int(row.rej)
        reps.append(
            RepScore(
                rep, int(row.n), acc, rej, _rate(acc, acc + rej),
                _hours(accept, (rep,)).median, _hours(touch, (rep,)).median, by_rep.pop(rep, 0),
            )
        )  # fmt: skip
    reps += [RepScore(rep, 0, 0, 0, None, None, None, n) for rep, n in by_rep.items()]
    return tuple(sorted(reps, key=lambda r: r.rep))


def _reasons(ctx: Context, jt: ir.Table, queue: str, handoff: str) -> tuple[ReasonCount, ...]:
    keys = jt.select("contact_id", "journey")
    rej = _rejections(ctx, queue, handoff).inner_join(keys, ["contact_id", "journey"])
    frame = rej.group_by("reason").aggregate(n=rej.count()).execute()
    total = int(frame["n"].sum()) if len(frame) else 0
    rows = [ReasonCount(str(r.reason), int(r.n), int(r.n) / total) for r in frame.itertuples()]
    return tuple(sorted(rows, key=lambda r: (-r.count, r.reason)))


def handoff_scorecard(ctx: Context, period: Period) -> HandoffScorecard:
    """The handoff scorecard for journeys that reached the queue stage in ``period`` (see module docstring)."""
    handoff = ctx.pipeline.handoff
    if handoff is None or ctx.stages.index(handoff) == 0:
        empty = Summary.empty()
        return HandoffScorecard(period, None, handoff, None, 0, 0, 0, 0, None, (), empty, empty, 0, (), ())
    queue = ctx.stages[ctx.stages.index(handoff) - 1]
    touch = _touch_stage(ctx, handoff)
    key = ("handoff", ctx.pipeline_name, epoch(ctx.as_of), period.start_s, period.end_s)
    jt = ctx.engine.cached(key, lambda: _cohort(ctx, period, queue, handoff, touch))
    totals = jt.aggregate(n=jt.count(), acc=jt.acc.sum(), rej=jt.rej.sum()).execute().iloc[0]
    n, acc, rej = (as_int(totals[k]) for k in ("n", "acc", "rej"))
    breaches = _breaches(ctx, period)
    return HandoffScorecard(
        period, queue, handoff, touch, n, acc, rej, n - acc - rej, _rate(acc, acc + rej),
        _reasons(ctx, jt, queue, handoff),
        _hours(summarize(ctx, jt, "to_accept"), ()), _hours(summarize(ctx, jt, "first_touch"), ()),
        int(breaches.count().execute()), _weeks(ctx, breaches), _reps(ctx, jt, breaches),
    )  # fmt: skip
