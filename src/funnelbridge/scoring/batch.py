"""The batch rule scorer: every lead of a lead table scored in one vectorized pass (Ibis, run on DuckDB).

Same rules and arithmetic as :mod:`funnelbridge.scoring.rules_engine` (the incremental path):

1. attribute rules: one boolean column per rule over the lead frame (:mod:`funnelbridge.rules.ibis`);
2. event rules: the matching events of every rule are stacked (``rule_idx``) and joined with a small table of
   rule parameters; non-repeatable rules keep their earliest event (a window), per-day caps number the events of
   each local day (a window over the playbook's time zone), expired events are dropped, the rest decay; a group-by
   per (contact, rule) sums them and applies the total cap;
3. points per kind are summed per (contact, group) and classified (grade, temperature, quadrant, MQL);
4. the explanation is built as JSON text in the engine, in rule order.

:func:`score_tables` runs it over Arrow tables and returns Arrow tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from funnelbridge.domain.clock import as_utc
from funnelbridge.playbook.schema import Playbook, Scoring
from funnelbridge.rules.ibis import LeadFrame, compile_event_condition, lead_frame
from funnelbridge.scoring.results import HIGH_FIT_GRADES, QUADRANTS
from funnelbridge.scoring.ruleset import EventRule, RuleSet, rule_sets

__all__ = ["BatchExpressions", "batch_conditions", "score_expressions", "score_tables"]

_US_PER_DAY = 86_400_000_000.0


@ibis.udf.scalar.builtin  # type: ignore[untyped-decorator,misc]
def timezone(tz: str, ts: datetime) -> datetime:  # type: ignore[empty-body]
    """DuckDB's ``timezone(zone, timestamptz)``: the local wall-clock time in ``zone``."""


@dataclass(frozen=True)
class BatchExpressions:
    """The two result tables: ``scores`` (one row per contact and group) and ``items`` (explanation lines)."""

    scores: ir.Table
    items: ir.Table | None


def batch_conditions(scoring: Scoring) -> list[Any]:
    """Every lead-level condition of the scoring rules (what the lead frame must be able to evaluate)."""
    return [r.when for rs in rule_sets(scoring) for r in rs.attribute_rules]


def _head(rule_name: str, kind: str) -> str:
    return json.dumps({"rule": rule_name, "kind": kind})[:-1]  # '{"rule": ..., "kind": ...' (open)


def _num(value: ir.NumericValue) -> ir.StringValue:
    return value.cast("string")  # DuckDB prints the shortest round-trip form (10.0, 0.5, 1e-05)


def _attribute_items(frame: LeadFrame, sets: tuple[RuleSet, ...]) -> ir.Table | None:
    parts = []
    order = 0
    for rs in sets:
        for rule in rs.attribute_rules:
            hit = frame.table.filter(frame.predicate(rule.when))
            text = ibis.literal(f'{_head(rule.name, rule.kind)}, "points": {json.dumps(rule.points)}}}')
            parts.append(
                hit.select(
                    "contact_id",
                    score_group=ibis.literal(rs.group),
                    kind=ibis.literal(rule.kind),
                    rule_order=ibis.literal(order, "int64"),
                    points=ibis.literal(rule.points, type="float64"),
                    item=text,
                )
            )
            order += 1
    return ibis.union(*parts) if parts else None


def _rule_params(sets: tuple[RuleSet, ...], as_of: datetime, offset: int) -> tuple[list[EventRule], pa.Table]:
    rules: list[EventRule] = []
    rows: list[dict[str, Any]] = []
    for rs in sets:
        for rule in rs.event_rules:
            halves = (as_of + timedelta(days=rule.half_life_days)).isoformat() if rule.half_life_days else None
            tail = f', "half_life_days": {json.dumps(rule.half_life_days)}, "halves_at": "{halves}"' if halves else ""
            rows.append(
                {
                    "rule_idx": len(rules), "score_group": rs.group, "kind": rule.kind,
                    "rule_order": offset + len(rules), "pts": rule.points, "abs_pts": abs(rule.points),
                    "sign": -1.0 if rule.points < 0 else 1.0, "repeatable": rule.repeatable,
                    "per_day": rule.per_day, "cap_total": rule.total, "half_life": rule.half_life_days,
                    "expires": rule.expires_days, "item_head": _head(rule.name, rule.kind), "item_tail": tail,
                }
            )  # fmt: skip
            rules.append(rule)
    schema = pa.schema(
        [("rule_idx", pa.int64()), ("score_group", pa.string()), ("kind", pa.string()), ("rule_order", pa.int64())]
        + [(n, pa.float64()) for n in ("pts", "abs_pts", "sign")]
        + [("repeatable", pa.bool_())]
        + [(n, pa.float64()) for n in ("per_day", "cap_total", "half_life", "expires")]
        + [("item_head", pa.string()), ("item_tail", pa.string())]
    )
    return rules, pa.Table.from_pylist(rows, schema=schema)


def _matched(events: ir.Table, rules: list[EventRule], when: ir.TimestampScalar) -> ir.Table:
    parts = []
    for idx, rule in enumerate(rules):
        keep = (events.type == rule.event) & (events.occurred_at <= when)
        if rule.where is not None:
            keep &= compile_event_condition(events, rule.where)
        parts.append(events.filter(keep).select("contact_id", "occurred_at", rule_idx=ibis.literal(idx, "int64")))
    return ibis.union(*parts)


def _earned(t: ir.Table, tz: str) -> ir.Table:
    """Keep the earliest event of non-repeatable rules, number each local day's events, compute earned points."""
    first = ibis.row_number().over(group_by=[t.contact_id, t.rule_idx], order_by=t.occurred_at)
    once = t.filter(~t.repeatable).mutate(_rn=first).filter(lambda x: x._rn == 0).drop("_rn")
    kept = ibis.union(t.filter(t.repeatable), once)
    day = timezone(tz, kept.occurred_at).date()
    nth = ibis.row_number().over(group_by=[kept.contact_id, kept.rule_idx, day], order_by=kept.occurred_at)
    capped = kept.filter(kept.per_day.notnull()).mutate(k=nth.cast("float64"))
    free = kept.filter(kept.per_day.isnull()).mutate(k=ibis.literal(0.0))
    both = ibis.union(capped, free)
    room = ibis.greatest(ibis.literal(0.0), both.per_day - both.k * both.abs_pts)
    earned = ibis.cases((both.per_day.isnull(), both.pts), else_=both.sign * ibis.least(both.abs_pts, room))
    return both.mutate(earned=earned)


def _event_items(events: ir.Table, sets: tuple[RuleSet, ...], as_of: datetime, tz: str, offset: int) -> ir.Table:
    rules, params = _rule_params(sets, as_of, offset)
    when = ibis.timestamp(as_of)
    p = ibis.memtable(params)
    t = _earned(_matched(events, rules, when).inner_join(p, "rule_idx"), tz)
    age = (-t.occurred_at.delta(when, unit="microsecond")).cast("float64") / _US_PER_DAY
    t = t.mutate(age=age).filter(lambda x: x.expires.isnull() | (x.age <= x.expires))
    factor = ibis.cases((t.half_life.isnull(), ibis.literal(1.0)), else_=ibis.literal(0.5).pow(t.age / t.half_life))
    t = t.mutate(value=t.earned * factor)
    g = t.group_by("contact_id", "rule_idx").aggregate(
        value=t.value.sum(),
        raw=t.earned.sum(),
        n=t.count(),
        first_earning=t.occurred_at.min(where=t.earned != 0),
    )
    g = g.inner_join(p, "rule_idx")
    limited = ibis.cases((g.cap_total.isnull() | (g.value.abs() <= g.cap_total), g.value), else_=g.sign * g.cap_total)
    expiry_us = (g.expires * _US_PER_DAY).round().cast("int64").as_interval("us")
    expires_at = g.first_earning + expiry_us
    iso = expires_at.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").re_replace(r"\.000000\+", "+")
    expiry_text = ibis.cases((expires_at.isnull(), ibis.literal("")), else_=', "expires_at": "' + iso + '"')
    g = g.mutate(points=limited)
    item = (
        g.item_head + ', "points": ' + _num(g.points) + ', "raw_points": ' + _num(g.raw)
        + ', "events": ' + g.n.cast("string") + g.item_tail + expiry_text + "}"
    )  # fmt: skip
    return g.select("contact_id", "score_group", "kind", "rule_order", "points", item=item)


def _classify(t: ir.Table, scoring: Scoring) -> ir.Table:
    grades = scoring.grades
    grade = ibis.cases((t.fit >= grades["A"], "A"), (t.fit >= grades["B"], "B"), (t.fit >= grades["C"], "C"), else_="D")
    t = t.mutate(total=t.fit + t.engagement + t.negative, grade=grade)
    temp = scoring.temperature
    band = ibis.cases((t.engagement >= temp.hot, "hot"), (t.engagement >= temp.warm, "warm"), else_="cold")
    high_fit, high_eng = t.grade.isin(list(HIGH_FIT_GRADES)), t.engagement >= scoring.mql.engagement
    quadrant = ibis.cases(
        *[((high_fit == f) & (high_eng == e), name) for (f, e), name in QUADRANTS.items()], else_="low_priority"
    )
    mql = t.grade.isin(list(scoring.mql.grades)) & high_eng
    if scoring.mql.total is not None:
        mql &= t.total >= scoring.mql.total
    return t.mutate(temperature=band, quadrant=quadrant, mql_eligible=mql)


def _totals(leads: ir.Table, items: ir.Table | None, sets: tuple[RuleSet, ...], scoring: Scoring) -> ir.Table:
    ids = leads.select("contact_id")
    frames = [ids.mutate(score_group=ibis.literal(rs.group)) for rs in sets]
    base = ibis.union(*frames)
    if items is None:
        t = base.mutate(fit=ibis.literal(0.0), engagement=ibis.literal(0.0), negative=ibis.literal(0.0))
        return _classify(t.mutate(explanation=ibis.literal("[]")), scoring)
    sums = items.group_by("contact_id", "score_group").aggregate(
        **{k: items.points.sum(where=items.kind == k) for k in ("fit", "engagement", "negative")},
        explanation="[" + items.item.group_concat(", ", order_by=items.rule_order) + "]",
    )
    t = base.left_join(sums, ["contact_id", "score_group"])
    t = t.select(
        "contact_id",
        "score_group",
        *[t[k].fill_null(0.0).name(k) for k in ("fit", "engagement", "negative")],
        explanation=t.explanation.fill_null("[]"),
    )
    return _classify(t, scoring)


def score_expressions(playbook: Playbook, leads: ir.Table, events: ir.Table, as_of: datetime) -> BatchExpressions:
    """The Ibis expressions scoring every lead of ``leads`` from ``events`` at ``as_of``, every group."""
    as_of = as_utc(as_of)
    sets = rule_sets(playbook.scoring)
    frame = lead_frame(leads, events, batch_conditions(playbook.scoring), as_of)
    attr = _attribute_items(frame, sets)
    n_attr = sum(len(rs.attribute_rules) for rs in sets)
    has_events = any(rs.event_rules for rs in sets)
    ev = _event_items(events, sets, as_of, playbook.timezone, n_attr) if has_events else None
    parts = [p for p in (attr, ev) if p is not None]
    items = ibis.union(*parts) if parts else None
    return BatchExpressions(_totals(leads, items, sets, playbook.scoring), items)


def score_tables(
    playbook: Playbook, leads: pa.Table, events: pa.Table, as_of: datetime, con: Any | None = None
) -> pa.Table:
    """Score Arrow lead/event tables on DuckDB; one row per (contact, group) with the explanation as JSON text."""
    if con is None:
        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")
    lt, et = con.create_table("fb_leads", leads, overwrite=True), con.create_table("fb_events", events, overwrite=True)
    expr = score_expressions(playbook, lt, et, as_of).scores
    return con.to_pyarrow(expr.order_by(["contact_id", "score_group"]))
