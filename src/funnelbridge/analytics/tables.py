"""Ibis building blocks shared by the reports: the analytics context, epoch seconds, stage journeys, dimensions.

The central expression is :func:`journeys`: one row per (contact, pipeline, journey) with, for every stage of the
pipeline, the epoch second the journey first *reached* it (``r0``, ``r1``, ...; null when it never did) and whether
the stage was skipped on the way (``k0``, ``k1``, ...). Counting rule: a journey that reached stage *i* has passed
every earlier stage, so ``r_j`` is the first time the journey stood at stage *j* **or any later stage** — a move
straight from lead to MQL reaches MAL at the same instant (skipped stages count as passed). Detours (recycled,
disqualified) are not stages and never count as reaching one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis.common.exceptions import IbisError

from funnelbridge.analytics.engines import Engine, EngineKind
from funnelbridge.analytics.periods import epoch
from funnelbridge.errors import InputError
from funnelbridge.playbook.schema import Pipeline, Playbook

__all__ = [
    "NONE_LABEL",
    "Context",
    "Dimension",
    "as_int",
    "dimension_column",
    "entry",
    "flag",
    "journey_tops",
    "journeys",
    "journeys_expr",
    "journeys_ready",
    "live_transitions",
    "people",
    "reach",
    "seconds",
    "skipped",
]

NONE_LABEL = "(none)"


class Dimension(StrEnum):
    SOURCE = "source"
    MEDIUM = "medium"
    CAMPAIGN = "campaign"
    SEGMENT = "segment"
    INDUSTRY = "industry"
    COUNTRY = "country"
    OWNER = "owner"
    TEAM = "team"
    GRADE = "grade"

    @classmethod
    def parse(cls, value: str | Dimension | None) -> Dimension | None:
        if value is None or isinstance(value, Dimension):
            return value
        try:
            return cls(value.strip().lower())
        except ValueError:
            names = ", ".join(d.value for d in cls)
            raise InputError(f"cannot split by {value!r} (choose from {names})", field="by") from None


@dataclass(frozen=True)
class Context:
    """What every report needs: the engine, the playbook, which pipeline, its time zone and 'now'."""

    engine: Engine
    playbook: Playbook
    pipeline_name: str
    as_of: datetime

    @property
    def pipeline(self) -> Pipeline:
        return self.playbook.pipelines[self.pipeline_name]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.playbook.timezone)

    @property
    def stages(self) -> tuple[str, ...]:
        return self.pipeline.stage_ids

    def table(self, name: str) -> ir.Table:
        return self.engine.table(name)


@ibis.udf.scalar.builtin(name="epoch_us")  # type: ignore[untyped-decorator]
def _epoch_us(ts: dt.Timestamp()) -> dt.int64:  # type: ignore[valid-type]
    """DuckDB's ``epoch_us``: microseconds since the epoch of a timestamp (UTC for TIMESTAMPTZ)."""


def _engine_name(value: ir.Value) -> str | None:
    try:
        return str(value._find_backend(use_default=False).name)
    except IbisError:
        return None


def seconds(ts: ir.TimestampValue) -> ir.IntegerValue:
    """UTC epoch seconds, floored, as int64 — the same number on every engine. On DuckDB from ``epoch_us`` (Ibis's
    ``epoch_seconds`` casts TIMESTAMPTZ to TIMESTAMP first, a time-zone conversion per row ~20x as costly)."""
    if _engine_name(ts) == "duckdb":
        return _epoch_us(ts) // 1_000_000
    return ts.epoch_seconds().cast("float64").floor().cast("int64")


def as_int(value: Any) -> int:
    """A count from a result frame: None/NaN (an empty SUM) is 0."""
    return 0 if value is None or value != value else int(value)


def flag(cond: ir.BooleanValue) -> ir.IntegerValue:
    """1/0 for a condition (PostgreSQL cannot cast booleans to integers)."""
    return ibis.cases((cond, 1), else_=0)


def reach(i: int) -> str:
    return f"r{i}"


def entry(i: int) -> str:
    return f"e{i}"


def _stage_index(column: ir.StringValue, stages: tuple[str, ...]) -> ir.IntegerValue:
    return ibis.cases(*((column == s, i) for i, s in enumerate(stages)), else_=ibis.null("int64"))


def journeys(ctx: Context, *, materialize: bool = True) -> ir.Table:
    """The journeys table (see :func:`journeys_expr`): the narrow part materialised once per engine, pipeline and
    ``as_of`` (unless ``materialize=False`` and it is not yet); the ``r`` columns derived on top of it per query."""
    base = ctx.engine.cached(_journeys_key(ctx), lambda: _journey_entries(ctx), materialize=materialize)
    n = len(ctx.stages)
    reached = {
        reach(i): ibis.least(*(base[entry(j)].fill_null(_NEVER) for j in range(i, n))).nullif(_NEVER)
        if i < n - 1 else base[entry(i)]
        for i in range(n)
    }  # fmt: skip
    return base.mutate(**reached)


def _journeys_key(ctx: Context) -> tuple[Any, ...]:
    return ("journeys", ctx.pipeline_name, ctx.stages, epoch(ctx.as_of))


def journeys_ready(ctx: Context) -> bool:
    """Is the journeys table already materialised on this engine (so reading it costs less than any shortcut)?"""
    return ctx.engine.is_cached(_journeys_key(ctx))


_NEVER = 2**62  # stands in for "not reached" inside LEAST (SQLite's scalar MIN returns NULL on any NULL)


def live_transitions(ctx: Context) -> ir.Table:
    """The pipeline's transitions, without those of contacts merged into another one (``contacts.merged_into``):
    a merge moves events and deals to the survivor but leaves the duplicate's transitions behind, and counting
    them would count one person twice. (A Parquet export without the column has no merges to skip.)"""
    tr = ctx.table("transitions")
    tr = tr.filter(tr.pipeline == ctx.pipeline_name)
    contacts = ctx.table("contacts")
    if "merged_into" not in contacts.columns:
        return tr
    merged = contacts.filter(contacts.merged_into.notnull())
    return tr.filter(~tr.contact_id.isin(merged.id))  # a NOT IN filter: no extra nesting (SQLite's parser depth)


def _journey_entries(ctx: Context) -> ir.Table:
    tr = live_transitions(ctx)
    stages = ctx.stages
    steps = tr.filter(tr.to_stage.isin(list(stages)) & not_after(ctx, tr.at))  # as journey_tops: the same journeys
    steps = steps.select("contact_id", "journey", "to_stage", ep=seconds(steps.at), sk=steps.skipped.cast("string"))
    aggs: dict[str, Any] = {"entered": steps.ep.min()}
    for i, stage in enumerate(stages):
        aggs[entry(i)] = steps.ep.min(where=steps.to_stage == stage)
    aggs["skips"] = steps.sk.group_concat(",", where=steps.sk.notnull())
    return steps.group_by(["contact_id", "journey"]).aggregate(**aggs)


def journeys_expr(ctx: Context) -> ir.Table:
    """One row per journey: contact_id, journey, entered (first stage reached), e0.. (first direct entry into stage
    i, null when skipped), skips (the journey's skipped lists, JSON texts joined by commas, null when none) and
    r0.. (first time at stage i or later: the counting rule). Not materialised."""
    base = _journey_entries(ctx)
    n = len(ctx.stages)
    return base.mutate(
        **{
            reach(i): ibis.least(*(base[entry(j)].fill_null(_NEVER) for j in range(i, n))).nullif(_NEVER)
            if i < n - 1 else base[entry(i)]
            for i in range(n)
        }
    )  # fmt: skip


def not_after(ctx: Context, ts: ir.TimestampValue) -> ir.BooleanValue:
    """``ts <= as_of``. DuckDB compares its TIMESTAMPTZ with a UTC literal directly (no per-row conversion); other
    engines compare floored epoch seconds (SQLite stores text, where a literal comparison is not exact)."""
    if ctx.engine.kind is EngineKind.DUCKDB:
        return ts <= ibis.literal(ctx.as_of.astimezone(UTC))
    return seconds(ts) <= epoch(ctx.as_of)


def journey_tops(ctx: Context) -> ir.Table:
    """The cheap form of :func:`journeys` for the default view (any order, cohort basis): per journey only
    ``entered`` and ``top``, the index of the furthest stage reached — reached stage *i* ⇔ ``top >= i``."""
    tr = live_transitions(ctx)
    stages = ctx.stages
    steps = tr.filter(tr.to_stage.isin(list(stages)) & not_after(ctx, tr.at))
    steps = steps.select("contact_id", "journey", "at", idx=_stage_index(steps.to_stage, stages))
    jt = steps.group_by(["contact_id", "journey"]).aggregate(first=steps.at.min(), top=steps.idx.max())
    return jt.select("contact_id", "journey", "top", entered=seconds(jt.first))


def skipped(jt: ir.Table, stage: str) -> ir.BooleanValue:
    """The journey listed ``stage`` as skipped in one of its transitions."""
    return jt.skips.contains(f'"{stage}"').fill_null(False)


def _segment(employees: ir.IntegerValue) -> ir.StringValue:
    return ibis.cases(
        (employees.isnull(), NONE_LABEL),
        (employees < 50, "smb (<50)"),
        (employees < 1000, "mid-market (50-999)"),
        else_="enterprise (1000+)",
    )


def _clean(value: ir.Value) -> ir.StringValue:
    text = value.cast("string")
    return ibis.cases((text.isnull() | (text == ""), NONE_LABEL), else_=text)


def people_expr(ctx: Context) -> ir.Table:
    """One row per contact with every dimension as a string column ('(none)' when unknown)."""
    contacts, accounts = ctx.table("contacts"), ctx.table("accounts")
    users, scores = ctx.table("users"), ctx.table("scores")
    scores = scores.filter(scores.score_group == "main").select(sc=scores.contact_id, grade=scores.grade)
    acc = accounts.select(aid=accounts.id, employees=accounts.employees, industry=accounts.industry,
                          acountry=accounts.country)  # fmt: skip
    own = users.select(uid=users.id, owner=users.name, team=users.team)
    base = contacts.select(
        cid=contacts.id, account_id=contacts.account_id, owner_id=contacts.owner_id, ccountry=contacts.country,
        source=contacts.first_source, medium=contacts.first_medium, campaign=contacts.first_campaign,
    )  # fmt: skip
    joined = base.left_join(acc, base.account_id == acc.aid)
    joined = joined.left_join(own, joined.owner_id == own.uid)
    joined = joined.left_join(scores, joined.cid == scores.sc)
    return joined.select(
        "cid",
        source=_clean(joined.source),
        medium=_clean(joined.medium),
        campaign=_clean(joined.campaign),
        segment=_segment(joined.employees),
        industry=_clean(joined.industry),
        country=_clean(ibis.coalesce(joined.acountry, joined.ccountry)),
        owner=_clean(joined.owner),
        team=_clean(joined.team),
        grade=_clean(joined.grade),
    )


def people(ctx: Context) -> ir.Table:
    """:func:`people_expr`, materialised once per engine."""
    return ctx.engine.cached(("people",), lambda: people_expr(ctx))


def _lookup(ctx: Context, dim: Dimension) -> ir.Table:
    """contact id (``_cid``) → the dimension's value (``_v``), joining only the tables that dimension needs."""
    contacts = ctx.table("contacts")
    if dim in (Dimension.SOURCE, Dimension.MEDIUM, Dimension.CAMPAIGN):
        column = {"source": "first_source", "medium": "first_medium", "campaign": "first_campaign"}[dim.value]
        return contacts.select(_cid=contacts.id, _v=_clean(contacts[column]))
    if dim in (Dimension.SEGMENT, Dimension.INDUSTRY, Dimension.COUNTRY):
        accounts = ctx.table("accounts")
        acc = accounts.select(aid=accounts.id, employees=accounts.employees, industry=accounts.industry,
                              acountry=accounts.country)  # fmt: skip
        base = contacts.select(cid=contacts.id, account_id=contacts.account_id, ccountry=contacts.country)
        joined = base.left_join(acc, base.account_id == acc.aid)
        value = {
            Dimension.SEGMENT: _segment(joined.employees),
            Dimension.INDUSTRY: _clean(joined.industry),
            Dimension.COUNTRY: _clean(ibis.coalesce(joined.acountry, joined.ccountry)),
        }[dim]
        return joined.select(_cid=joined.cid, _v=value)
    if dim in (Dimension.OWNER, Dimension.TEAM):
        users = ctx.table("users")
        own = users.select(uid=users.id, name=users.name, team=users.team)
        base = contacts.select(cid=contacts.id, owner_id=contacts.owner_id)
        joined = base.left_join(own, base.owner_id == own.uid)
        return joined.select(_cid=joined.cid, _v=_clean(joined.name if dim is Dimension.OWNER else joined.team))
    scores = ctx.table("scores")
    scores = scores.filter(scores.score_group == "main")
    return scores.select(_cid=scores.contact_id, _v=_clean(scores.grade))


def dimension_column(ctx: Context, frame: ir.Table, dim: Dimension, key: str = "contact_id") -> ir.Table:
    """``frame`` with a ``dim`` string column (the contact's attribute; '(none)' when unknown)."""
    lookup = _lookup(ctx, dim)
    joined = frame.left_join(lookup, frame[key] == lookup._cid)
    return joined.mutate(dim=ibis.coalesce(joined._v, NONE_LABEL)).drop("_cid", "_v")
