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

__all__ = [
    "BANT_KEYS",
    "EventFact",
    "LeadFacts",
    "event_fact",
    "lead_facts",
    "load_lead_facts",
    "plain_row",
    "score_facts_of",
    "shared_facts",
]

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
    aggregates: Mapping[str, float | None] | None = None
    """Precomputed ``events.*`` values by :func:`funnelbridge.rules.python.aggregate_key` (the incremental scorer
    keeps them up to date); a leaf whose key is here reads it instead of scanning ``events``."""

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


SCORE_FACTS = ("fit", "engagement", "negative", "total", "grade", "temperature", "probability")


def score_facts_of(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``score.*`` facts of a stored main ``scores`` row (None: never scored)."""
    if row is None:
        return None
    data = {key: _plain(row[key]) for key in SCORE_FACTS}
    data["fit_grade"] = data.pop("grade")
    return data


def lead_facts(
    contact: Mapping[str, Any],
    account: Mapping[str, Any] | None,
    score: Mapping[str, Any] | None,
    events: Sequence[EventFact],
    as_of: datetime,
    aggregates: Mapping[str, float | None] | None = None,
) -> LeadFacts:
    """Facts from rows already read: ``contact`` and ``account`` rows (as mappings), the stored main score row."""
    contact = plain_row(contact)
    account = plain_row(account) if account is not None else None
    bant = {key: contact.get(f"bant_{key}") for key in BANT_KEYS}
    return LeadFacts(contact, account, score_facts_of(score), bant, events, as_of, aggregates)


def plain_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's values as conditions compare them (numbers as float/int, times as aware UTC)."""
    return {key: _plain(value) for key, value in row.items()}


def event_fact(row: Any) -> EventFact:
    """An ``events`` row (type, occurred_at, path, campaign, source, medium, properties) as a fact."""
    return EventFact(
        type=row.type,
        occurred_at=as_utc(row.occurred_at),
        path=row.path,
        campaign=row.campaign,
        source=row.source,
        medium=row.medium,
        properties=row.properties or {},
    )


def _score(conn: Connection, contact_id: int) -> dict[str, Any] | None:
    query = select(*(scores.c[n] for n in SCORE_FACTS)).where(
        scores.c.contact_id == contact_id, scores.c.score_group == "main"
    )
    row = conn.execute(query).first()
    return score_facts_of(dict(row._mapping)) if row is not None else None


def _events(conn: Connection, contact_id: int, as_of: datetime) -> list[EventFact]:
    c = events.c
    query = (
        select(c.type, c.occurred_at, c.path, c.campaign, c.source, c.medium, c.properties)
        .where(c.contact_id == contact_id, c.occurred_at <= as_of)
        .order_by(c.occurred_at, c.id)
    )
    return [event_fact(r) for r in conn.execute(query)]


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
