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
import math
import re
from collections.abc import Iterator
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

__all__ = [
    "BatchExpressions",
    "batch_conditions",
    "duckdb_connection",
    "score_batches",
    "score_expressions",
    "score_tables",
]

_US_PER_DAY = 86_400_000_000.0
EVENTS_PER_PART = 2_000_000
OUTPUT_SCHEMA = pa.schema(
    [("contact_id", pa.int64()), ("score_group", pa.string())]
    + [(n, pa.float64()) for n in ("fit", "engagement", "negative")]
    + [("explanation", pa.string()), ("total", pa.float64())]
    + [(n, pa.string()) for n in ("grade", "temperature", "quadrant")]
    + [("mql_eligible", pa.bool_())]
)


@ibis.udf.scalar.builtin  # type: ignore[untyped-decorator,misc]
def timezone(tz: str, ts: datetime) -> datetime:  # type: ignore[empty-body]
    """DuckDB's ``timezone(zone, timestamptz)``: the local wall-clock time in ``zone``."""


@dataclass(frozen=True)
class BatchExpressions:
    """The result table: one row per contact and group, with the explanation as JSON text."""

    scores: ir.Table


def batch_conditions(scoring: Scoring) -> list[Any]:
    """Every lead-level condition of the scoring rules (what the lead frame must be able to evaluate)."""
    return [r.when for rs in rule_sets(scoring) for r in rs.attribute_rules]


def _head(rule_name: str, kind: str) -> str:
    return json.dumps({"rule": rule_name, "kind": kind})[:-1]  # '{"rule": ..., "kind": ...' (open)


def _num(value: ir.NumericValue) -> ir.StringValue:
    return value.cast("string")  # DuckDB prints the shortest round-trip form (10.0, 0.5, 1e-05)


def _attribute_points(frame: LeadFrame, rs: RuleSet, explain: bool) -> ir.Table:
    """One pass over the leads: a group's fit and negative attribute points and their explanation text."""
    fit, neg, text = ibis.literal(0.0), ibis.literal(0.0), ibis.literal("")
    for rule in rs.attribute_rules:
        hit = frame.predicate(rule.when)
        item = f'{_head(rule.name, rule.kind)}, "points": {json.dumps(rule.points)}}}, '
        points = ibis.ifelse(hit, rule.points, 0.0)
        if rule.kind == "fit":
            fit = fit + points
        else:
            neg = neg + points
        text = text + ibis.ifelse(hit, item, "") if explain else text
    return frame.table.select("contact_id", fit=fit, neg_attr=neg, attr_text=text)


def _rule_params(sets: tuple[RuleSet, ...], as_of: datetime) -> tuple[list[tuple[int, EventRule]], pa.Table]:
    rules: list[tuple[int, EventRule]] = []
    rows: list[dict[str, Any]] = []
    for rs in sets:
        for rule in rs.event_rules:
            idx = len(rules)
            halves = (as_of + timedelta(days=rule.half_life_days)).isoformat() if rule.half_life_days else None
            tail = f', "half_life_days": {json.dumps(rule.half_life_days)}, "halves_at": "{halves}"' if halves else ""
            rows.append(
                {
                    "rule_idx": idx, "score_group": rs.group, "kind": rule.kind, "pts": rule.points,
                    "abs_pts": abs(rule.points), "sign": -1.0 if rule.points < 0 else 1.0, "per_day": rule.per_day,
                    "cap_total": rule.total, "half_life": rule.half_life_days, "expires": rule.expires_days,
                    "item_head": _head(rule.name, rule.kind), "item_tail": tail,
                }
            )  # fmt: skip
            rules.append((idx, rule))
    schema = pa.schema(
        [("rule_idx", pa.int64()), ("score_group", pa.string()), ("kind", pa.string())]
        + [(n, pa.float64()) for n in ("pts", "abs_pts", "sign", "per_day", "cap_total", "half_life", "expires")]
        + [("item_head", pa.string()), ("item_tail", pa.string())]
    )
    return rules, pa.Table.from_pylist(rows, schema=schema)


_NUMERIC = ["rule_idx", "pts", "abs_pts", "sign", "per_day", "cap_total", "half_life", "expires"]


def _matched(events: ir.Table, rules: list[tuple[int, EventRule]], when: ir.TimestampScalar) -> ir.Table:
    parts = []
    for idx, rule in rules:
        keep = (events.type == rule.event) & (events.occurred_at <= when)
        if rule.where is not None:
            keep &= compile_event_condition(events, rule.where)
        parts.append(events.filter(keep).select("contact_id", "occurred_at", rule_idx=ibis.literal(idx, "int64")))
    return ibis.union(*parts)


def _earned_rows(
    events: ir.Table, rules: list[tuple[int, EventRule]], params: ir.Table, when: ir.TimestampScalar, tz: str
) -> ir.Table:
    """(contact, rule, time, earned) rows. Rules are split by kind of work so no subquery is read twice: plain
    repeatable rules, repeatable rules with a per-day cap (a window numbers each local day's events) and
    non-repeatable rules (only the earliest event: a group-by)."""
    plain = [(i, r) for i, r in rules if r.repeatable and r.per_day is None]
    daily = [(i, r) for i, r in rules if r.repeatable and r.per_day is not None]
    once = [(i, r) for i, r in rules if not r.repeatable]
    parts = []
    if plain:
        t = _matched(events, plain, when).inner_join(params, "rule_idx")
        parts.append(t.select("contact_id", "occurred_at", "rule_idx", earned=t.pts))
    if daily:
        t = _matched(events, daily, when).inner_join(params, "rule_idx")
        day = timezone(tz, t.occurred_at).date()
        nth = ibis.row_number().over(group_by=[t.contact_id, t.rule_idx, day], order_by=t.occurred_at)
        room = ibis.greatest(ibis.literal(0.0), t.per_day - nth.cast("float64") * t.abs_pts)
        parts.append(t.select("contact_id", "occurred_at", "rule_idx", earned=t.sign * ibis.least(t.abs_pts, room)))
    if once:
        m = _matched(events, once, when)
        t = (
            m.group_by("contact_id", "rule_idx")
            .aggregate(occurred_at=m.occurred_at.min())
            .inner_join(params, "rule_idx")
        )
        earned = ibis.cases((t.per_day.isnull(), t.pts), else_=t.sign * ibis.least(t.abs_pts, t.per_day))
        parts.append(t.select("contact_id", "occurred_at", "rule_idx", earned=earned))
    return ibis.union(*parts)


def _event_points(events: ir.Table, sets: tuple[RuleSet, ...], as_of: datetime, tz: str, explain: bool) -> ir.Table:
    """Per (contact, group): engagement and negative event points and the explanation text, in rule order."""
    rules, table = _rule_params(sets, as_of)
    when = ibis.timestamp(as_of)
    params = ibis.memtable(table.select(_NUMERIC))
    t = _earned_rows(events, rules, params, when, tz).inner_join(params, "rule_idx")
    age = (-t.occurred_at.delta(when, unit="microsecond")).cast("float64") / _US_PER_DAY
    t = t.mutate(age=age).filter(lambda x: x.expires.isnull() | (x.age <= x.expires))
    factor = ibis.cases((t.half_life.isnull(), ibis.literal(1.0)), else_=ibis.literal(0.5).pow(t.age / t.half_life))
    t = t.mutate(value=t.earned * factor)
    g = t.group_by("contact_id", "rule_idx").aggregate(
        value=t.value.sum(), raw=t.earned.sum(), n=t.count(), first_earning=t.occurred_at.min(where=t.earned != 0)
    )
    g = g.inner_join(ibis.memtable(table), "rule_idx")
    limited = ibis.cases((g.cap_total.isnull() | (g.value.abs() <= g.cap_total), g.value), else_=g.sign * g.cap_total)
    if not explain:
        g = g.mutate(points=limited)
        return g.group_by("contact_id", "score_group").aggregate(
            engagement=g.points.sum(where=g.kind == "engagement"),
            neg_events=g.points.sum(where=g.kind == "negative"),
            event_text=ibis.literal(""),
        )
    expires_at = g.first_earning + (g.expires * _US_PER_DAY).round().cast("int64").as_interval("us")
    iso = expires_at.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").re_replace(r"\.000000\+", "+")
    expiry_text = ibis.cases((expires_at.isnull(), ibis.literal("")), else_=', "expires_at": "' + iso + '"')
    g = g.mutate(points=limited)
    item = (
        g.item_head + ', "points": ' + _num(g.points) + ', "raw_points": ' + _num(g.raw)
        + ', "events": ' + g.n.cast("string") + g.item_tail + expiry_text + "}, "
    )  # fmt: skip
    g = g.mutate(item=item)
    return g.group_by("contact_id", "score_group").aggregate(
        engagement=g.points.sum(where=g.kind == "engagement"),
        neg_events=g.points.sum(where=g.kind == "negative"),
        event_text=g.item.group_concat("", order_by=g.rule_idx),
    )


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


def _group_scores(attr: ir.Table, ev: ir.Table | None, group: str) -> ir.Table:
    if ev is None:
        t = attr.mutate(engagement=ibis.literal(0.0), neg_events=ibis.literal(0.0), event_text=ibis.literal(""))
    else:
        mine = ev.filter(ev.score_group == group).drop("score_group")
        t = attr.left_join(mine, attr.contact_id == mine.contact_id).drop("contact_id_right")
    text = (t.attr_text + t.event_text.fill_null("")).re_replace(r", $", "")
    return t.select(
        "contact_id",
        score_group=ibis.literal(group),
        fit=t.fit,
        engagement=t.engagement.fill_null(0.0),
        negative=t.neg_attr + t.neg_events.fill_null(0.0),
        explanation="[" + text + "]",
    )


def score_expressions(
    playbook: Playbook, leads: ir.Table, events: ir.Table, as_of: datetime, *, explain: bool = True
) -> BatchExpressions:
    """The Ibis expression scoring every lead of ``leads`` from ``events`` at ``as_of``, every group
    (``explain=False`` leaves the explanations empty: what-if replays that only count need no text)."""
    as_of = as_utc(as_of)
    sets = rule_sets(playbook.scoring)
    frame = lead_frame(leads, events, batch_conditions(playbook.scoring), as_of)
    has_events = any(rs.event_rules for rs in sets)
    ev = _event_points(events, sets, as_of, playbook.timezone, explain) if has_events else None
    groups = [_group_scores(_attribute_points(frame, rs, explain), ev, rs.group) for rs in sets]
    return BatchExpressions(_classify(ibis.union(*groups), playbook.scoring))


def duckdb_connection(memory_limit: str = "1GB") -> Any:
    """A DuckDB connection for batch scoring: UTC session, bounded memory (spills to a temp directory)."""
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", memory_limit):
        raise ValueError(f"memory_limit must read like 1GB or 512MiB, got {memory_limit!r}")
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    con.raw_sql("SET preserve_insertion_order = false")
    con.raw_sql(f"SET memory_limit = '{memory_limit}'")  # a validated size, not data
    return con


def score_batches(
    playbook: Playbook,
    leads: pa.Table,
    events: pa.Table,
    as_of: datetime,
    con: Any | None = None,
    chunk_size: int = 50_000,
    *,
    explain: bool = True,
) -> Iterator[pa.RecordBatch]:
    """Score Arrow lead/event tables on DuckDB, streaming the result (one row per contact and group, in no
    particular order) in record batches, so the explanations never sit in memory all at once.

    Scoring is per contact, so large inputs are scored in partitions of contacts (``contact_id % parts``) of about
    :data:`EVENTS_PER_PART` events each: DuckDB's working memory stays bounded whatever the input size."""
    con = con if con is not None else duckdb_connection()
    parts = max(1, math.ceil(events.num_rows / EVENTS_PER_PART))
    # the query reads two registered Arrow tables (scanned in place, not copied): compiled once, run per partition
    con.con.register("fb_leads", leads.slice(0, 0))
    con.con.register("fb_events", events.slice(0, 0))
    try:
        expr = score_expressions(playbook, con.table("fb_leads"), con.table("fb_events"), as_of, explain=explain).scores
        con._run_pre_execute_hooks(expr)  # registers the small rule-parameter memtables
        sql = str(con.compile(expr))
        for lead_part, event_part in _partitions(leads, events, parts):
            con.con.register("fb_leads", lead_part)
            con.con.register("fb_events", event_part)
            for batch in con.con.sql(sql).to_arrow_reader(chunk_size):
                yield batch.cast(OUTPUT_SCHEMA)  # DuckDB types float literals as DECIMAL: cast to the schema
    finally:
        con.con.unregister("fb_leads")
        con.con.unregister("fb_events")


def _partitions(leads: pa.Table, events: pa.Table, parts: int) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Split both tables by ``contact_id % parts`` (scoring is per contact, so partitions are independent)."""
    if parts == 1:
        yield leads, events
        return
    lead_ids = leads.column("contact_id").to_numpy() % parts
    event_ids = events.column("contact_id").to_numpy() % parts
    for part in range(parts):
        yield leads.filter(pa.array(lead_ids == part)), events.filter(pa.array(event_ids == part))


def score_tables(
    playbook: Playbook,
    leads: pa.Table,
    events: pa.Table,
    as_of: datetime,
    con: Any | None = None,
    *,
    explain: bool = True,
) -> pa.Table:
    """Score Arrow lead/event tables on DuckDB into one table ordered by contact and group."""
    batches = list(score_batches(playbook, leads, events, as_of, con, explain=explain))
    if not batches:
        return OUTPUT_SCHEMA.empty_table()
    return pa.Table.from_batches(batches).sort_by([("contact_id", "ascending"), ("score_group", "ascending")])
