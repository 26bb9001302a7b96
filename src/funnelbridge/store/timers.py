"""Repository of durable timers (SLA reminders and breaches, nurture steps). Functions never commit.

A timer is a row with a unique ``key``; scheduling the same key twice is a no-op, so replays are harmless. Firing
marks ``fired_at`` in the same transaction that writes the timer's actions, so a timer fires exactly once and
survives restarts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Update, bindparam, func, select, update

from funnelbridge.domain.clock import as_utc
from funnelbridge.store.outbox import insert_ignore
from funnelbridge.store.tables import timers

__all__ = [
    "TimerRow",
    "any_due",
    "cancel_by_prefix",
    "cancel_many",
    "cancel_params",
    "claim_due_timers",
    "insert_timer",
    "select_timers",
    "select_timers_with_prefix",
]


@dataclass(frozen=True)
class TimerRow:
    id: int
    key: str
    kind: str
    contact_id: int | None
    deal_id: int | None
    due_at: datetime
    payload: Mapping[str, Any]
    fired_at: datetime | None
    cancelled_at: datetime | None


def _row(row: Any) -> TimerRow:
    m = row._mapping
    return TimerRow(
        id=int(m["id"]),
        key=str(m["key"]),
        kind=str(m["kind"]),
        contact_id=m["contact_id"],
        deal_id=m["deal_id"],
        due_at=as_utc(m["due_at"]),
        payload=dict(m["payload"] or {}),
        fired_at=None if m["fired_at"] is None else as_utc(m["fired_at"]),
        cancelled_at=None if m["cancelled_at"] is None else as_utc(m["cancelled_at"]),
    )


def insert_timer(
    conn: Connection,
    *,
    key: str,
    kind: str,
    due_at: datetime,
    contact_id: int | None = None,
    deal_id: int | None = None,
    payload: Mapping[str, Any] | None = None,
    fired_at: datetime | None = None,
) -> bool:
    """Schedule a timer (or, with ``fired_at``, record a one-off marker); False when the key exists already."""
    values = {
        "key": key,
        "kind": kind,
        "due_at": due_at,
        "contact_id": contact_id,
        "deal_id": deal_id,
        "payload": dict(payload or {}),
        "fired_at": fired_at,
    }
    return insert_ignore(conn, timers, [values], "key") == 1


def _upper(prefix: str) -> str | None:
    """The smallest string above every string starting with ``prefix``, in code point (UTF-8 byte) order; None
    when there is none to write (the prefix is empty or ends with the last code point)."""
    last = ord(prefix[-1]) if prefix else 0x10FFFF
    if last >= 0x10FFFF:
        return None
    following = 0xE000 if 0xD800 <= last + 1 <= 0xDFFF else last + 1  # no string holds a surrogate
    return prefix[:-1] + chr(following)


def _pending_with_prefix(conn: Connection, prefix: str) -> ColumnElement[bool]:
    """Pending (neither fired nor cancelled) and ``key`` starts with ``prefix``.

    The key is also bounded by the range the prefix spans, so that an index finds the timers; otherwise the planner
    scans every pending timer, and cancelling each lead's SLA clocks would grow with the number of timers pending.
    On SQLite (binary collation: keys sort as their UTF-8 bytes, in code point order) the unique index on ``key``
    serves the range, and "pending" is written so that no other index serves it. On PostgreSQL the range is in
    byte order (``~>=~`` / ``~<~``, whatever the database's collation), served by the partial index of pending
    timers' keys (``ix_timers_pending_key``, ``text_pattern_ops``)."""
    starts = timers.c.key.startswith(prefix, autoescape=True)
    pending = timers.c.fired_at.is_(None) & timers.c.cancelled_at.is_(None)
    upper = _upper(prefix)
    if upper is None or conn.dialect.name not in ("sqlite", "postgresql"):
        return starts & pending
    if conn.dialect.name == "postgresql":
        return (
            timers.c.key.op("~>=~", is_comparison=True)(prefix)
            & timers.c.key.op("~<~", is_comparison=True)(upper)
            & starts
            & pending
        )
    unindexed = func.coalesce(timers.c.fired_at, timers.c.cancelled_at).is_(None)
    return (timers.c.key >= prefix) & (timers.c.key < upper) & starts & unindexed


@cache
def _cancel_statement(dialect: str) -> Update:
    """:func:`_pending_with_prefix`'s condition with the prefix's pattern and bounds as parameters, built once per
    dialect (building it per call cost several times running it)."""
    key = timers.c.key
    starts = key.like(bindparam("pattern"), escape="/")
    pending = timers.c.fired_at.is_(None) & timers.c.cancelled_at.is_(None)
    if dialect == "sqlite":
        unindexed = func.coalesce(timers.c.fired_at, timers.c.cancelled_at).is_(None)
        where = (key >= bindparam("lo")) & (key < bindparam("hi")) & starts & unindexed
    elif dialect == "postgresql":
        where = (
            key.op("~>=~", is_comparison=True)(bindparam("lo"))
            & key.op("~<~", is_comparison=True)(bindparam("hi"))
            & starts
            & pending
        )
    else:
        where = starts & pending
    return update(timers).where(where).values(cancelled_at=bindparam("at"))


def cancel_params(prefix: str, now: datetime) -> dict[str, Any]:
    """The parameters of one cancellation by ``prefix`` (for :func:`cancel_many`)."""
    escaped = prefix.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return {"pattern": escaped + "%", "lo": prefix, "hi": _upper(prefix), "at": now}


def cancel_many(conn: Connection, params: Sequence[Mapping[str, Any]]) -> int:
    """Cancel the pending timers of many prefixes (:func:`cancel_params` each) with one executemany."""
    if not params:
        return 0
    if any(p["hi"] is None for p in params):
        return sum(_cancel_one_by_one(conn, p) for p in params)
    return int(conn.execute(_cancel_statement(conn.dialect.name), list(params)).rowcount)


def _cancel_one_by_one(conn: Connection, p: Mapping[str, Any]) -> int:
    if p["hi"] is not None:
        return int(conn.execute(_cancel_statement(conn.dialect.name), dict(p)).rowcount)
    stmt = update(timers).where(_pending_with_prefix(conn, str(p["lo"]))).values(cancelled_at=p["at"])
    return int(conn.execute(stmt).rowcount)


def cancel_by_prefix(conn: Connection, prefix: str, now: datetime) -> int:
    """Cancel every pending timer whose key starts with ``prefix``."""
    return cancel_many(conn, [cancel_params(prefix, now)])


def any_due(conn: Connection, now: datetime) -> bool:
    """Whether some timer is due (a cheap read, so idle workers do not take the write lock)."""
    query = select(timers.c.id).where(timers.c.fired_at.is_(None), timers.c.cancelled_at.is_(None))
    return conn.execute(query.where(timers.c.due_at <= now).limit(1)).first() is not None


def claim_due_timers(conn: Connection, now: datetime, limit: int) -> list[TimerRow]:
    """Mark up to ``limit`` due timers fired and return them (the caller writes their actions in this
    transaction)."""
    query = (
        select(timers)
        .where(timers.c.fired_at.is_(None), timers.c.cancelled_at.is_(None), timers.c.due_at <= now)
        .order_by(timers.c.due_at, timers.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = [_row(r) for r in conn.execute(query)]
    if rows:
        conn.execute(update(timers).where(timers.c.id.in_([r.id for r in rows])).values(fired_at=now))
    return rows


def select_timers(conn: Connection, *, contact_id: int | None = None, pending_only: bool = False) -> list[TimerRow]:
    query = select(timers).order_by(timers.c.due_at, timers.c.id)
    if contact_id is not None:
        query = query.where(timers.c.contact_id == contact_id)
    if pending_only:
        query = query.where(timers.c.fired_at.is_(None), timers.c.cancelled_at.is_(None))
    return [_row(r) for r in conn.execute(query)]


def select_timers_with_prefix(conn: Connection, prefix: str) -> list[TimerRow]:
    """Pending timers whose key starts with ``prefix``."""
    query = select(timers).where(_pending_with_prefix(conn, prefix))
    return [_row(r) for r in conn.execute(query.order_by(timers.c.due_at))]
