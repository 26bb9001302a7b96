"""The sales queue: MQLs waiting for a sales decision, oldest first, with the handoff SLA time left
(business-hours aware when the SLA says so)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, select

from funnelbridge.domain.business_hours import ALWAYS, BusinessCalendar
from funnelbridge.domain.clock import as_utc
from funnelbridge.domain.durations import parse_duration
from funnelbridge.lifecycle.engine import pipeline_name, table_of
from funnelbridge.lifecycle.model import QueueItem
from funnelbridge.playbook.schema import Sla
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import accounts, contacts, pipeline_states, scores

__all__ = ["sales_queue", "sla_clock"]


def _calendar(rt: Runtime, sla: Sla) -> BusinessCalendar:
    pb = rt.playbook
    return BusinessCalendar.from_hours(pb.business_hours, pb.timezone) if sla.business_hours else ALWAYS


def sla_clock(
    rt: Runtime, sla: Sla | None, since: datetime, now: datetime, calendar: BusinessCalendar | None = None
) -> tuple[datetime | None, timedelta | None]:
    """When the decision SLA falls due, and how much (working) time is left — negative once breached."""
    if sla is None or sla.decide_within is None:
        return None, None
    calendar = calendar or _calendar(rt, sla)
    due = calendar.add(since, parse_duration(sla.decide_within))
    left = calendar.elapsed(now, due) if due > now else -calendar.elapsed(due, now)
    return due, left


def _rows(conn: Connection, pipeline: str, stage: str) -> list[object]:
    ps, c, a, s = pipeline_states, contacts, accounts, scores
    query = (
        select(
            ps.c.contact_id,
            ps.c.entered_at,
            ps.c.owner_id,
            c.c.email,
            c.c.first_name,
            c.c.last_name,
            a.c.name.label("company"),
            s.c.total,
            s.c.grade,
        )
        .join(c, c.c.id == ps.c.contact_id)
        .outerjoin(a, a.c.id == c.c.account_id)
        .outerjoin(s, and_(s.c.contact_id == ps.c.contact_id, s.c.score_group == "main"))
        .where(ps.c.pipeline == pipeline, ps.c.stage == stage)
        .order_by(ps.c.entered_at, ps.c.contact_id)
    )
    return list(conn.execute(query))


def sales_queue(rt: Runtime, pipeline: str | None = None, *, now: datetime | None = None) -> list[QueueItem]:
    """Leads in the queue stage (MQL) of ``pipeline`` (default: every pipeline with a handoff), oldest first."""
    names = [pipeline_name(rt, pipeline)] if pipeline else list(rt.playbook.pipelines)
    when = now or rt.clock.now()
    items = []
    with rt.db.read() as conn:
        for name in names:
            roles = table_of(rt, name).roles
            if roles.queue is None or roles.handoff is None:
                continue
            sla = rt.playbook.pipelines[name].stage(roles.handoff).sla
            calendar = _calendar(rt, sla) if sla else None
            for row in _rows(conn, name, roles.queue):
                items.append(_item(rt, row, name, roles.queue, sla, when, calendar))
    return sorted(items, key=lambda i: (i.entered_at, i.contact_id, i.pipeline))


def _item(
    rt: Runtime,
    row: object,
    pipeline: str,
    stage: str,
    sla: Sla | None,
    now: datetime,
    calendar: BusinessCalendar | None,
) -> QueueItem:
    m = row._mapping  # type: ignore[attr-defined]
    entered = as_utc(m["entered_at"])
    due, left = sla_clock(rt, sla, entered, now, calendar)
    name = " ".join(p for p in (m["first_name"], m["last_name"]) if p) or (m["email"] or f"contact {m['contact_id']}")
    return QueueItem(
        contact_id=m["contact_id"],
        pipeline=pipeline,
        stage=stage,
        email=m["email"],
        name=name,
        company=m["company"],
        entered_at=entered,
        waiting=now - entered,
        sla_due_at=due,
        sla_left=left,
        owner_id=m["owner_id"],
        score_total=m["total"],
        grade=m["grade"],
    )
