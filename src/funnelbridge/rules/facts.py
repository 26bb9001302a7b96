"""Lead facts: everything a condition or a scoring rule may look at for one lead, at one point in time.

:class:`LeadFacts` is the input of the Python compiler (:mod:`funnelbridge.rules.python`) and of the incremental
scorer. :func:`load_lead_facts` reads it from the store: the contact, its account, its stored main score, its BANT
answers and its events up to ``as_of`` (events after ``as_of`` are not facts yet), oldest first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from funnelbridge.domain.clock import as_utc
from funnelbridge.errors import NotFoundError
from funnelbridge.store.tables import accounts, contacts, events, scores

__all__ = ["BANT_KEYS", "EventFact", "LeadFacts", "load_lead_facts", "shared_facts"]

_SHARED: ContextVar[dict[tuple[int, int, datetime], LeadFacts] | None] = ContextVar("shared_facts", default=None)


@contextmanager
def shared_facts() -> Iterator[None]:
    """Within this block, a lead's contact, account and events are read once per (connection, as_of) and shared
    by every :func:`load_lead_facts` call — scoring and then the stage criteria of the same lead. The score is
    always read afresh, because scoring changes it. Use it only where nothing else changes the lead's attributes
    or events in between (the activity flow)."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


BANT_KEYS = ("budget", "authority", "need", "timeline")


@dataclass(frozen=True)
class EventFact:
    """One activity of a lead (a row of ``events``), as conditions see it."""

    type: str
    occurred_at: datetime
    path: str | None = None
    campaign: str | None = None
    source: str | None = None
    medium: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LeadFacts:
    """A lead at ``as_of``: contact and account attributes, current score, BANT, and events (oldest first)."""

    contact: Mapping[str, Any]
    account: Mapping[str, Any] | None = None
    score: Mapping[str, Any] | None = None
    bant: Mapping[str, Any] = field(default_factory=dict)
    events: Sequence[EventFact] = ()
    as_of: datetime = field(default_factory=lambda: datetime.now().astimezone())

    def __post_init__(self) -> None:
        object.__setattr__(self, "as_of", as_utc(self.as_of))


def _plain(value: Any) -> Any:
    """Store values as conditions compare them: numbers as float/int, times as aware UTC."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return as_utc(value)
    return value


def _row_dict(row: Any) -> dict[str, Any]:
    return {key: _plain(value) for key, value in row._mapping.items()}


def _score(conn: Connection, contact_id: int) -> dict[str, Any] | None:
    cols = [scores.c[n] for n in ("fit", "engagement", "negative", "total", "grade", "temperature", "probability")]
    query = select(*cols).where(scores.c.contact_id == contact_id, scores.c.score_group == "main")
    row = conn.execute(query).first()
    if row is None:
        return None
    data = _row_dict(row)
    data["fit_grade"] = data.pop("grade")
    return data


def _events(conn: Connection, contact_id: int, as_of: datetime) -> list[EventFact]:
    c = events.c
    query = (
        select(c.type, c.occurred_at, c.path, c.campaign, c.source, c.medium, c.properties)
        .where(c.contact_id == contact_id, c.occurred_at <= as_of)
        .order_by(c.occurred_at, c.id)
    )
    return [
        EventFact(
            type=r.type,
            occurred_at=as_utc(r.occurred_at),
            path=r.path,
            campaign=r.campaign,
            source=r.source,
            medium=r.medium,
            properties=r.properties or {},
        )
        for r in conn.execute(query)
    ]


def load_lead_facts(conn: Connection, contact_id: int, as_of: datetime) -> LeadFacts:
    """Read one lead's facts at ``as_of``. Raises NotFoundError for an unknown contact."""
    as_of = as_utc(as_of)
    shared = _SHARED.get()
    if shared is None:
        return _load(conn, contact_id, as_of)
    key = (id(conn), contact_id, as_of)
    if key in shared:
        return replace(shared[key], score=_score(conn, contact_id))
    facts = shared[key] = _load(conn, contact_id, as_of)
    return facts


def _load(conn: Connection, contact_id: int, as_of: datetime) -> LeadFacts:
    row = conn.execute(select(contacts).where(contacts.c.id == contact_id)).first()
    if row is None:
        raise NotFoundError(f"contact {contact_id} does not exist")
    contact = _row_dict(row)
    account = None
    if contact.get("account_id") is not None:
        acc = conn.execute(select(accounts).where(accounts.c.id == contact["account_id"])).first()
        account = _row_dict(acc) if acc is not None else None
    bant = {key: contact.get(f"bant_{key}") for key in BANT_KEYS}
    return LeadFacts(
        contact=contact,
        account=account,
        score=_score(conn, contact_id),
        bant=bant,
        events=_events(conn, contact_id, as_of),
        as_of=as_of,
    )
