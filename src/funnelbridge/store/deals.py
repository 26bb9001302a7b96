"""Repository of ``deals`` and ``deal_changes`` (append-only), plus the lifecycle's ``recycle`` timers.
Functions take a Connection and never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from funnelbridge.domain.clock import as_utc
from funnelbridge.errors import ConflictError, NotFoundError
from funnelbridge.store.tables import deal_changes, deals, timers

__all__ = [
    "DealChange",
    "DealRow",
    "RecycleTimer",
    "change_by_key",
    "changes_of",
    "close_timer",
    "deals_of",
    "due_recycle_timers",
    "get_deal",
    "insert_change",
    "insert_deal",
    "open_deal_count",
    "schedule_recycle",
    "update_deal",
]


@dataclass(frozen=True)
class DealRow:
    id: int
    contact_id: int | None
    account_id: int | None
    pipeline: str
    name: str
    amount: Decimal
    currency: str
    stage: str
    probability: float
    expected_close: date | None
    opened_at: datetime
    closed_at: datetime | None
    status: str
    loss_reason: str | None
    competitor: str | None
    owner_id: int | None
    version: int


@dataclass(frozen=True)
class DealChange:
    id: int
    deal_id: int
    from_stage: str | None
    to_stage: str
    amount: Decimal | None
    at: datetime
    actor: str
    reason: str | None
    idempotency_key: str | None


@dataclass(frozen=True)
class RecycleTimer:
    id: int
    contact_id: int
    deal_id: int | None
    due_at: datetime
    payload: dict[str, Any]


def _deal(row: Any) -> DealRow:
    m = dict(row._mapping)
    m["opened_at"] = as_utc(m["opened_at"])
    m["closed_at"] = as_utc(m["closed_at"]) if m["closed_at"] is not None else None
    m["amount"] = Decimal(str(m["amount"]))
    m.pop("external_id", None)
    return DealRow(**m)


def insert_deal(conn: Connection, values: dict[str, Any]) -> int:
    result = conn.execute(insert(deals).values(version=1, **values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def get_deal(conn: Connection, deal_id: int) -> DealRow:
    row = conn.execute(select(deals).where(deals.c.id == deal_id)).first()
    if row is None:
        raise NotFoundError(f"no deal {deal_id}")
    return _deal(row)


def deals_of(conn: Connection, contact_id: int) -> list[DealRow]:
    query = select(deals).where(deals.c.contact_id == contact_id).order_by(deals.c.opened_at, deals.c.id)
    return [_deal(r) for r in conn.execute(query)]


def open_deal_count(conn: Connection, contact_id: int, pipeline: str) -> int:
    d = deals
    query = select(func.count()).where(d.c.contact_id == contact_id, d.c.pipeline == pipeline, d.c.status == "open")
    return int(conn.execute(query).scalar_one())


def update_deal(conn: Connection, deal: DealRow, **values: Any) -> None:
    """Set ``values`` if the deal still has ``deal.version``; else raise :class:`ConflictError`."""
    where = (deals.c.id == deal.id) & (deals.c.version == deal.version)
    result = conn.execute(update(deals).where(where).values(version=deal.version + 1, **values))
    if result.rowcount != 1:
        raise ConflictError(f"deal {deal.id} changed concurrently (expected version {deal.version}); reload and retry")


def insert_change(conn: Connection, values: dict[str, Any]) -> int:
    try:
        with conn.begin_nested():
            result = conn.execute(insert(deal_changes).values(values))
    except IntegrityError:
        raise ConflictError(f"idempotency key {values.get('idempotency_key')!r} was used concurrently") from None
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _change(row: Any) -> DealChange:
    m = dict(row._mapping)
    m["at"] = as_utc(m["at"])
    return DealChange(**m)


def change_by_key(conn: Connection, key: str) -> DealChange | None:
    row = conn.execute(select(deal_changes).where(deal_changes.c.idempotency_key == key)).first()
    return _change(row) if row is not None else None


def changes_of(conn: Connection, deal_id: int) -> list[DealChange]:
    c = deal_changes
    return [_change(r) for r in conn.execute(select(c).where(c.c.deal_id == deal_id).order_by(c.c.at, c.c.id))]


def schedule_recycle(
    conn: Connection, *, key: str, contact_id: int, deal_id: int, due_at: datetime, **payload: Any
) -> None:
    values = {"key": key, "kind": "recycle", "contact_id": contact_id, "deal_id": deal_id, "due_at": due_at}
    conn.execute(insert(timers).values(**values, payload=payload))


def due_recycle_timers(conn: Connection, now: datetime) -> list[RecycleTimer]:
    t = timers
    query = (
        select(t)
        .where(t.c.kind == "recycle", t.c.fired_at.is_(None), t.c.cancelled_at.is_(None), t.c.due_at <= now)
        .order_by(t.c.due_at, t.c.id)
    )
    return [
        RecycleTimer(r.id, r.contact_id, r.deal_id, as_utc(r.due_at), dict(r.payload or {}))
        for r in conn.execute(query)
    ]


def close_timer(conn: Connection, timer_id: int, at: datetime, *, fired: bool) -> bool:
    """Mark a timer fired (or cancelled) unless someone else did first; True when this call closed it."""
    t = timers
    column = "fired_at" if fired else "cancelled_at"
    where = (t.c.id == timer_id) & t.c.fired_at.is_(None) & t.c.cancelled_at.is_(None)
    return conn.execute(update(t).where(where).values({column: at})).rowcount == 1
