"""Read models for the CLI/API: one lead with its stages, scores (with explanation), timeline and deals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from funnelbridge.domain.clock import as_utc
from funnelbridge.errors import NotFoundError
from funnelbridge.lifecycle.model import Transition
from funnelbridge.runtime import Runtime
from funnelbridge.store.deals import DealRow, deals_of
from funnelbridge.store.pipeline import PipelineState, all_states
from funnelbridge.store.tables import accounts, contacts, events, scores
from funnelbridge.store.transitions import trail

__all__ = ["LeadView", "TimelineEntry", "lead_view"]


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a lead's history: an event (activity) or a stage transition."""

    at: datetime
    kind: str  # "event" | "transition"
    title: str
    detail: str | None = None


@dataclass(frozen=True)
class LeadView:
    contact: dict[str, Any]
    account: dict[str, Any] | None
    states: tuple[PipelineState, ...]
    scores: tuple[dict[str, Any], ...]
    transitions: tuple[Transition, ...]
    timeline: tuple[TimelineEntry, ...]
    deals: tuple[DealRow, ...]


def _transition_entry(t: Transition) -> TimelineEntry:
    title = f"{t.from_stage or '(new)'} → {t.to_stage}"
    extra = [f"by {t.actor} ({t.actor_role})"]
    extra += [f"reason {t.reason}"] if t.reason else []
    extra += [f"skipped {', '.join(t.skipped)}"] if t.skipped else []
    extra += [f"journey {t.journey}"] if t.journey > 1 else []
    extra += [t.note] if t.note else []
    return TimelineEntry(t.at, "transition", f"[{t.pipeline}] {title}", "; ".join(extra))


def _events(conn: Connection, contact_id: int, limit: int) -> list[TimelineEntry]:
    e = events.c
    query = select(e.type, e.occurred_at, e.path, e.campaign).where(e.contact_id == contact_id)
    rows = conn.execute(query.order_by(e.occurred_at.desc(), e.id.desc()).limit(limit))
    return [
        TimelineEntry(as_utc(r.occurred_at), "event", r.type, " ".join(p for p in (r.path, r.campaign) if p) or None)
        for r in rows
    ]


def lead_view(rt: Runtime, contact_id: int, *, events_limit: int = 50) -> LeadView:
    """Everything `lead show` prints. Scores are read from the ``scores`` table as stored by scoring."""
    with rt.db.read() as conn:
        row = conn.execute(select(contacts).where(contacts.c.id == contact_id)).first()
        if row is None:
            raise NotFoundError(f"no contact {contact_id}")
        contact = dict(row._mapping)
        account = None
        if contact.get("account_id") is not None:
            acc = conn.execute(select(accounts).where(accounts.c.id == contact["account_id"])).first()
            account = dict(acc._mapping) if acc is not None else None
        score_rows = conn.execute(
            select(*(c for c in scores.c if c.name != "state"))  # the scorer's internal state stays inside
            .where(scores.c.contact_id == contact_id)
            .order_by(scores.c.score_group)
        )
        moves = trail(conn, [contact_id])
        timeline = sorted(
            [*_events(conn, contact_id, events_limit), *(_transition_entry(t) for t in moves)],
            key=lambda entry: entry.at,
        )
        return LeadView(
            contact=contact,
            account=account,
            states=tuple(all_states(conn, contact_id)),
            scores=tuple(dict(r._mapping) for r in score_rows),
            transitions=tuple(moves),
            timeline=tuple(timeline),
            deals=tuple(deals_of(conn, contact_id)),
        )
