"""Leaks and bottlenecks: where the funnel loses most, whether that changed against its own trailing baseline or
differs between segments (only flagged when statistically significant), why (rejection and loss reasons), and
which attributes and events are over- or under-represented among the people who dropped out (drivers).

Method (stated in every report, :data:`METHOD`):

* Each step A → B is measured on the cohort of journeys that entered in the period (skips count as passed).
* **Trailing baseline**: the journeys that entered in the ``baseline_periods`` periods of the same length right
  before; a baseline journey only counts as converted when it reached B within the current cohort's maximum age
  (``as_of`` − period start), so an older cohort is not favoured by having had more time.
* **Segments**: each value of the split dimension against all other values, same cohort.
* Test: **Fisher's exact test** (two-sided) on the 2×2 table converted/dropped × group; comparisons need at least
  ``min_sample`` journeys at A on both sides, else they are reported as "too few" and never flagged. p-values are
  corrected with **Benjamini–Hochberg** across all comparisons of the report (false discovery rate ``alpha``).
* **Drivers** (as PostHog's correlation analysis): among journeys that reached A, converters (reached B) against
  droppers; each attribute value (source, campaign, segment, industry, country, grade) and each event type the
  contact performed between entering the funnel and converting (droppers: up to ``as_of``) gets its counts and an
  odds ratio with Haldane's +0.5 correction, OR = ((a+½)(d+½)) / ((b+½)(c+½)) with a/b = converters with/without,
  c/d = droppers with/without. OR > 1: over-represented among converters; OR < 1: among droppers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import ibis
import ibis.expr.types as ir
from scipy.stats import false_discovery_control, fisher_exact

from funnelbridge.analytics.economics import milestones
from funnelbridge.analytics.handoff import ReasonCount
from funnelbridge.analytics.periods import Period, epoch
from funnelbridge.analytics.tables import (
    Context,
    Dimension,
    as_int,
    dimension_column,
    entry,
    journeys,
    people,
    reach,
    seconds,
)

__all__ = ["METHOD", "Comparison", "Driver", "LeakReport", "StepLoss", "leaks", "step_drivers"]

METHOD = (
    "Fisher's exact test (two-sided) per comparison, Benjamini–Hochberg FDR across the report; "
    "drivers: odds ratios with Haldane +0.5 correction"
)
DRIVER_DIMENSIONS = (
    Dimension.SOURCE,
    Dimension.CAMPAIGN,
    Dimension.SEGMENT,
    Dimension.INDUSTRY,
    Dimension.COUNTRY,
    Dimension.GRADE,
)


@dataclass(frozen=True)
class Comparison:
    """Conversion of a step in a group against a reference (the trailing baseline, or the other segments)."""

    group: str
    n: int
    conversion: float | None
    reference_n: int
    reference_conversion: float | None
    p_value: float | None
    q_value: float | None
    significant: bool
    direction: str  # "worse" | "better" | "same" | "too few"


@dataclass(frozen=True)
class Driver:
    kind: str  # "attribute" | "event"
    name: str
    converted_with: int
    dropped_with: int
    converted_total: int
    dropped_total: int
    odds_ratio: float
    p_value: float
    over_represented_in: str  # "converted" | "dropped"


@dataclass(frozen=True)
class StepLoss:
    from_stage: str
    to_stage: str
    reached_from: int
    reached_to: int
    conversion: float | None
    lost: int
    reasons: tuple[ReasonCount, ...]
    baseline: Comparison | None
    segments: tuple[Comparison, ...]
    drivers: tuple[Driver, ...] = ()


@dataclass(frozen=True)
class LeakReport:
    period: Period
    method: str
    alpha: float
    min_sample: int
    dimension: str
    steps: tuple[StepLoss, ...]
    biggest: tuple[str, ...]

    @property
    def flagged(self) -> tuple[tuple[str, Comparison], ...]:
        out = []
        for step in self.steps:
            name = f"{step.from_stage}→{step.to_stage}"
            out += [(name, c) for c in (step.baseline, *step.segments) if c is not None and c.significant]
        return tuple(out)

    def step(self, a: str, b: str) -> StepLoss:
        return next(s for s in self.steps if s.from_stage == a and s.to_stage == b)

    def to_dict(self) -> dict[str, Any]:
        return {"period": self.period.to_dict(), **{k: v for k, v in asdict(self).items() if k != "period"}}


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _cohort(ctx: Context, start: int | None, end: int | None) -> ir.Table:
    jt = journeys(ctx)
    if start is not None:
        jt = jt.filter(jt.entered >= start)
    if end is not None:
        jt = jt.filter(jt.entered < end)
    return jt


def _reached(jt: ir.Table, n: int, horizon: int | None = None) -> list[int]:
    def hit(i: int) -> ir.BooleanValue:
        cond = jt[reach(i)].notnull()
        return cond if horizon is None else cond & (jt[reach(i)] - jt.entered <= horizon)

    row = jt.aggregate(**{reach(i): ibis.cases((hit(i), 1), else_=0).sum() for i in range(n)}).execute().iloc[0]
    return [as_int(row[reach(i)]) for i in range(n)]


def _fisher(conv: int, n: int, ref_conv: int, ref_n: int) -> float:
    table = [[conv, n - conv], [ref_conv, ref_n - ref_conv]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


def _compare(group: str, conv: int, n: int, ref_conv: int, ref_n: int, min_sample: int) -> Comparison:
    rate, ref = _ratio(conv, n), _ratio(ref_conv, ref_n)
    if n < min_sample or ref_n < min_sample or rate is None or ref is None:
        return Comparison(group, n, rate, ref_n, ref, None, None, False, "too few")
    direction = "same" if math.isclose(rate, ref) else ("worse" if rate < ref else "better")
    return Comparison(group, n, rate, ref_n, ref, _fisher(conv, n, ref_conv, ref_n), None, False, direction)


def _baseline(ctx: Context, period: Period, periods: int, current: list[int], min_sample: int) -> list[Comparison]:
    if period.start_s is None or period.end_s is None or periods <= 0:
        return []
    length = period.end_s - period.start_s
    horizon = max(0, epoch(ctx.as_of) - period.start_s)
    base = _reached(_cohort(ctx, period.start_s - periods * length, period.start_s), len(ctx.stages), horizon)
    label = f"previous {periods} × {round(length / 86_400)} days"
    return [
        _compare(label, current[i + 1], current[i], base[i + 1], base[i], min_sample)
        for i in range(len(ctx.stages) - 1)
    ]


def _segments(ctx: Context, jt: ir.Table, dim: Dimension, min_sample: int) -> list[list[Comparison]]:
    n = len(ctx.stages)
    split = dimension_column(ctx, jt, dim)
    aggs = {reach(i): ibis.cases((split[reach(i)].notnull(), 1), else_=0).sum() for i in range(n)}
    frame = split.group_by("dim").aggregate(**aggs).execute()
    rows = {str(r["dim"]): [int(r[reach(i)]) for i in range(n)] for _, r in frame.iterrows()}
    totals = [sum(v[i] for v in rows.values()) for i in range(n)]
    out: list[list[Comparison]] = []
    for i in range(n - 1):
        step = []
        for value in sorted(rows):
            mine = rows[value]
            ref_n, ref_conv = totals[i] - mine[i], totals[i + 1] - mine[i + 1]
            step.append(_compare(value, mine[i + 1], mine[i], ref_conv, ref_n, min_sample))
        out.append(step)
    return out


def _adjust(groups: list[list[Comparison]], alpha: float) -> list[list[Comparison]]:
    flat = [(gi, ci) for gi, g in enumerate(groups) for ci, c in enumerate(g) if c.p_value is not None]
    if not flat:
        return groups
    qs = false_discovery_control([groups[gi][ci].p_value for gi, ci in flat], method="bh")
    out = [list(g) for g in groups]
    for (gi, ci), q in zip(flat, qs, strict=True):
        c = out[gi][ci]
        out[gi][ci] = replace(c, q_value=float(q), significant=bool(q < alpha) and c.direction in ("worse", "better"))
    return out


def _top(ctx: Context, jt: ir.Table) -> ir.IntegerValue:
    """Index of the furthest stage a journey reached (droppers of step i → i+1 have top == i): the furthest stage
    it entered directly (``r_i`` is set exactly when some ``e_j``, j >= i, is; the ``e`` columns are stored)."""
    n = len(ctx.stages)
    return ibis.cases(*((jt[entry(i)].notnull(), i) for i in reversed(range(n))), else_=-1)


def _all_reasons(ctx: Context, jt: ir.Table) -> dict[str, tuple[ReasonCount, ...]]:
    """Reasons per step, keyed by the step's from-stage, in two queries: detours taken from the stage where the
    journey stopped, and (for the step into the customer stage) the loss reasons of the cohort's lost deals."""
    tops = jt.select("contact_id", "journey", top=_top(ctx, jt))
    tr = ctx.table("transitions")
    tr = tr.filter(
        (tr.pipeline == ctx.pipeline_name)
        & tr.to_stage.isin(list(ctx.pipeline.detours))
        & (seconds(tr.at) <= epoch(ctx.as_of))
    )
    tr = tr.inner_join(tops, ["contact_id", "journey"])
    index = ibis.cases(*((tr.from_stage == s, i) for i, s in enumerate(ctx.stages)), else_=-2)
    tr = tr.filter(index == tr.top)
    frame = tr.group_by([tr.from_stage, "reason"]).aggregate(n=tr.count()).execute()
    counts: dict[str, dict[str, int]] = {}
    for row in frame.itertuples():
        reason = "(no reason)" if row.reason is None or row.reason != row.reason else str(row.reason)
        counts.setdefault(str(row.from_stage), {})[reason] = int(row.n)
    customer = milestones(ctx)["customer"]
    if customer in ctx.stages and ctx.stages.index(customer) > 0:
        before = ctx.stages[ctx.stages.index(customer) - 1]
        deals = ctx.table("deals")
        lost = deals.filter((deals.status == "lost") & deals.contact_id.isin(jt.contact_id))
        lost = lost.mutate(reason=ibis.coalesce(lost.loss_reason, "(no reason)"))
        frame = lost.group_by("reason").aggregate(n=lost.count()).execute()
        counts[before] = {str(r.reason): int(r.n) for r in frame.itertuples()} if len(frame) else {}
    return {stage: _reason_counts(found) for stage, found in counts.items()}


def _reason_counts(found: dict[str, int]) -> tuple[ReasonCount, ...]:
    total = sum(found.values())
    rows = [ReasonCount(reason, n, n / total) for reason, n in found.items()]
    return tuple(sorted(rows, key=lambda r: (-r.count, r.reason)))


def _odds(kind: str, name: str, a: int, c: int, conv: int, drop: int) -> Driver:
    b, d = conv - a, drop - c
    ratio = ((a + 0.5) * (d + 0.5)) / ((b + 0.5) * (c + 0.5))
    p = float(fisher_exact([[a, b], [c, d]], alternative="two-sided").pvalue)
    return Driver(kind, name, a, c, conv, drop, ratio, p, "converted" if ratio >= 1 else "dropped")


def step_drivers(
    ctx: Context, period: Period, a: str, b: str, *, top: int = 8, min_count: int = 3
) -> tuple[Driver, ...]:
    """Attributes and events most over- or under-represented among droppers of step ``a`` → ``b`` (module doc)."""
    ia, ib = ctx.stages.index(a), ctx.stages.index(b)
    jt = _cohort(ctx, period.start_s, period.end_s)
    jt = jt.filter(jt[reach(ia)].notnull())
    jt = jt.mutate(
        conv=ibis.cases((jt[reach(ib)].notnull(), 1), else_=0), until=jt[reach(ib)].fill_null(epoch(ctx.as_of))
    )
    sizes = jt.group_by("conv").aggregate(n=jt.count()).execute()
    conv = int(sizes.loc[sizes.conv == 1, "n"].sum())
    drop = int(sizes.loc[sizes.conv == 0, "n"].sum())
    frame = _driver_counts(ctx, period, jt, (ia, ib)).execute()
    found = _collect(frame, conv, drop)
    found = [d for d in found if d.converted_with + d.dropped_with >= min_count]
    found.sort(key=lambda d: (-abs(math.log(d.odds_ratio)), d.name))
    return tuple(found[:top])


def _first_events(ctx: Context, period: Period) -> ir.Table:
    """``contact_id, journey, etype, first_at``: each cohort journey's first event of each type from entering the
    funnel up to ``as_of``. Materialised once per report: every step's drivers read it (a journey did an event type
    before ``until`` exactly when its first one since entering is no later), so the events are joined once."""

    def build() -> ir.Table:
        jt = _cohort(ctx, period.start_s, period.end_s).select("contact_id", "journey", "entered")
        ev = ctx.table("events")
        ev = ev.filter(ev.contact_id.notnull()).select(ec=ev.contact_id, etype=ev.type, eep=seconds(ev.occurred_at))
        did = jt.inner_join(ev, jt.contact_id == ev.ec)
        did = did.filter((did.eep >= did.entered) & (did.eep <= epoch(ctx.as_of)))
        return did.group_by(["contact_id", "journey", "etype"]).aggregate(first_at=did.eep.min())

    key = ("first_events", ctx.pipeline_name, epoch(ctx.as_of), period.start_s, period.end_s)
    return ctx.engine.cached(key, build)


def _attribute_tops(ctx: Context, period: Period) -> ir.Table:
    """``name, top, n``: cohort journeys per attribute value (``dim=value``) and furthest stage reached. Materialised
    once per report: a journey reached stage i exactly when ``top >= i``, so every step's attribute counts are sums
    over this small table (the cohort joins the people table once, each attribute is one group-by)."""

    def build() -> ir.Table:
        jt = _cohort(ctx, period.start_s, period.end_s)
        jt = jt.select("contact_id", top=_top(ctx, jt))
        who = people(ctx)
        joined = jt.inner_join(who, jt.contact_id == who.cid)
        parts = []
        for dim in DRIVER_DIMENSIONS:
            counted = joined.group_by(["top", dim.value]).aggregate(n=joined.count())
            parts.append(counted.select(name=(f"{dim.value}=" + counted[dim.value]).cast("string"), top="top", n="n"))
        return ibis.union(*parts, distinct=False)

    key = ("attribute_tops", ctx.pipeline_name, epoch(ctx.as_of), period.start_s, period.end_s)
    return ctx.engine.cached(key, build)


def _driver_counts(ctx: Context, period: Period, jt: ir.Table, step: tuple[int, int]) -> ir.Table:
    """``kind, name, conv, n``: the step's journeys (``jt``: reached its from-stage) per attribute value and per
    event type done, converters and droppers apart, from :func:`_attribute_tops` and :func:`_first_events`."""
    ia, ib = step
    tops = _attribute_tops(ctx, period)
    tops = tops.filter(tops.top >= ia)
    tops = tops.mutate(conv=ibis.cases((tops.top >= ib, 1), else_=0))
    attrs = tops.group_by(["name", "conv"]).aggregate(n=tops.n.sum())
    first = _first_events(ctx, period)
    keys = jt.select(kc=jt.contact_id, kj=jt.journey, conv=jt.conv, until=jt.until)
    did = first.inner_join(keys, [first.contact_id == keys.kc, first.journey == keys.kj])
    did = did.filter(did.first_at <= did.until)  # one row per journey and event type
    done = did.group_by(["conv", "etype"]).aggregate(n=did.count())
    return ibis.union(
        attrs.select(kind=ibis.literal("attribute"), name="name", conv="conv", n=attrs.n.cast("int64")),
        done.select(kind=ibis.literal("event"), name=("did " + done.etype).cast("string"), conv="conv", n="n"),
        distinct=False,
    )


def _collect(frame: Any, conv: int, drop: int) -> list[Driver]:
    counts: dict[tuple[str, str], dict[int, int]] = {}
    for row in frame.itertuples():
        counts.setdefault((str(row.kind), str(row.name)), {})[int(row.conv)] = int(row.n)
    return [_odds(kind, name, v.get(1, 0), v.get(0, 0), conv, drop) for (kind, name), v in sorted(counts.items())]


def leaks(
    ctx: Context,
    period: Period,
    *,
    by: Dimension | None = None,
    baseline_periods: int = 3,
    min_sample: int = 30,
    alpha: float = 0.05,
    top: int = 2,
    min_count: int = 3,
) -> LeakReport:
    """The leak report for the cohort that entered in ``period`` (see the module docstring for the method)."""
    dim = by or Dimension.SOURCE
    jt = _cohort(ctx, period.start_s, period.end_s)
    n = len(ctx.stages)
    current = _reached(jt, n)
    base = _baseline(ctx, period, baseline_periods, current, min_sample)
    segments = _segments(ctx, jt, dim, min_sample)
    adjusted = _adjust([base, *segments], alpha)
    base, segments = adjusted[0], adjusted[1:]
    reasons = _all_reasons(ctx, jt)
    steps = []
    for i in range(n - 1):
        a, b = ctx.stages[i], ctx.stages[i + 1]
        steps.append(
            StepLoss(a, b, current[i], current[i + 1], _ratio(current[i + 1], current[i]), current[i] - current[i + 1],
                     reasons.get(a, ()), base[i] if base else None, tuple(segments[i]))
        )  # fmt: skip
    ranked = sorted((s for s in steps if s.lost > 0), key=lambda s: (-s.lost, s.conversion or 0.0))[:top]
    biggest = {(s.from_stage, s.to_stage) for s in ranked}
    steps = [
        replace(s, drivers=step_drivers(ctx, period, s.from_stage, s.to_stage, min_count=min_count))
        if (s.from_stage, s.to_stage) in biggest else s
        for s in steps
    ]  # fmt: skip
    names = tuple(f"{s.from_stage}→{s.to_stage}" for s in ranked)
    return LeakReport(period, METHOD, alpha, min_sample, dim.value, tuple(steps), names)
