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
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from funnelbridge.analytics.engines import Engine
from funnelbridge.analytics.periods import epoch
from funnelbridge.errors import InputError
from funnelbridge.playbook.schema import Pipeline, Playbook

__all__ = [
    "NONE_LABEL",
    "Context",
    "Dimension",
    "dimension_column",
    "entry",
    "flag",
    "journeys",
    "journeys_expr",
    "reach",
    "seconds",
    "skipped_flag",
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


def seconds(ts: ir.TimestampValue) -> ir.IntegerValue:
    """UTC epoch seconds, floored, as int64 — the same number on every engine."""
    return ts.epoch_seconds().cast("float64").floor().cast("int64")


def flag(cond: ir.BooleanValue) -> ir.IntegerValue:
    """1/0 for a condition (PostgreSQL cannot cast booleans to integers)."""
    return ibis.cases((cond, 1), else_=0)


def reach(i: int) -> str:
    return f"r{i}"


def entry(i: int) -> str:
    return f"e{i}"


def skipped_flag(i: int) -> str:
    return f"k{i}"


def _stage_index(column: ir.StringValue, stages: tuple[str, ...]) -> ir.IntegerValue:
    return ibis.cases(*((column == s, i) for i, s in enumerate(stages)), else_=ibis.null("int64"))


def journeys(ctx: Context) -> ir.Table:
    """The journeys table, materialised once per engine, pipeline and ``as_of`` (see :func:`journeys_expr`)."""
    return ctx.engine.cached(("journeys", ctx.pipeline_name, ctx.stages, epoch(ctx.as_of)), lambda: journeys_expr(ctx))


def journeys_expr(ctx: Context) -> ir.Table:
    """One row per journey: contact_id, journey, entered (first stage reached), r0.., e0.. (first
    direct entry into stage i, null when skipped), k0.. (see module doc)."""
    tr = ctx.table("transitions")
    tr = tr.filter(tr.pipeline == ctx.pipeline_name)
    stages = ctx.stages
    steps = tr.mutate(idx=_stage_index(tr.to_stage, stages), ep=seconds(tr.at), sk=tr.skipped.cast("string"))
    steps = steps.filter(steps.idx.notnull() & (steps.ep <= epoch(ctx.as_of)))
    aggs: dict[str, Any] = {"entered": steps.ep.min()}
    for i, stage in enumerate(stages):
        aggs[reach(i)] = steps.ep.min(where=steps.idx >= i)
        aggs[entry(i)] = steps.ep.min(where=steps.idx == i)
        hit = steps.sk.contains(f'"{stage}"').fill_null(False)
        aggs[skipped_flag(i)] = flag(hit).max()
    return steps.group_by(["contact_id", "journey"]).aggregate(**aggs)


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


def dimension_column(ctx: Context, frame: ir.Table, dim: Dimension, key: str = "contact_id") -> ir.Table:
    """``frame`` with a ``dim`` string column (the contact's attribute; '(none)' when unknown)."""
    contacts = ctx.table("contacts")
    if dim in (Dimension.SOURCE, Dimension.MEDIUM, Dimension.CAMPAIGN):
        column = {"source": "first_source", "medium": "first_medium", "campaign": "first_campaign"}[dim.value]
        lookup = contacts.select(_cid=contacts.id, _v=_clean(contacts[column]))
    elif dim in (Dimension.SEGMENT, Dimension.INDUSTRY, Dimension.COUNTRY):
        accounts = ctx.table("accounts")
        people = contacts.left_join(accounts, contacts.account_id == accounts.id)
        if dim is Dimension.SEGMENT:
            value = _segment(people.employees)
        elif dim is Dimension.INDUSTRY:
            value = _clean(people.industry)
        else:
            value = _clean(ibis.coalesce(people.country_right, people.country))
        lookup = people.select(_cid=people.id, _v=value)
    elif dim in (Dimension.OWNER, Dimension.TEAM):
        users = ctx.table("users")
        people = contacts.left_join(users, contacts.owner_id == users.id)
        column = people.name if dim is Dimension.OWNER else people.team
        lookup = people.select(_cid=people.id, _v=_clean(column))
    else:
        scores = ctx.table("scores")
        scores = scores.filter(scores.score_group == "main")
        lookup = scores.select(_cid=scores.contact_id, _v=_clean(scores.grade))
    joined = frame.left_join(lookup, frame[key] == lookup._cid)
    return joined.mutate(dim=ibis.coalesce(joined._v, NONE_LABEL)).drop("_cid", "_v")
