"""Repository of the transactional outbox. Functions take a Connection and never commit.

Claiming is safe with several workers: on PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` lets workers take
disjoint rows; on SQLite ``Database.transaction`` begins IMMEDIATE, so claims serialize on the write lock. A claim
sets a lease (``locked_by``/``locked_until``) and counts the attempt; a crashed worker's rows become claimable
again when the lease runs out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from funnelbridge.domain.clock import as_utc
from funnelbridge.store.tables import outbox

__all__ = [
    "OutboxRow",
    "claim_due",
    "count_by_status",
    "delete_done",
    "get_row",
    "insert_ignore",
    "mark_dead",
    "mark_done",
    "mark_retry",
    "reset_row",
    "select_rows",
]

STATUSES = ("pending", "done", "dead")


@dataclass(frozen=True)
class OutboxRow:
    id: int
    idempotency_key: str
    kind: str
    payload: Mapping[str, Any]
    status: str
    attempts: int
    available_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    locked_by: str | None
    locked_until: datetime | None
    last_error: str | None


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _row(row: Any) -> OutboxRow:
    m = row._mapping
    return OutboxRow(
        id=int(m["id"]),
        idempotency_key=str(m["idempotency_key"]),
        kind=str(m["kind"]),
        payload=dict(m["payload"] or {}),
        status=str(m["status"]),
        attempts=int(m["attempts"]),
        available_at=as_utc(m["available_at"]),
        created_at=as_utc(m["created_at"]),
        delivered_at=_utc(m["delivered_at"]),
        locked_by=m["locked_by"],
        locked_until=_utc(m["locked_until"]),
        last_error=m["last_error"],
    )


def insert_ignore(conn: Connection, table: Any, rows: Sequence[Mapping[str, Any]], key: str) -> int:
    """Insert ``rows`` into ``table``, skipping any whose unique ``key`` exists already; returns rows inserted."""
    if not rows:
        return 0
    # RETURNING counts the rows really inserted (rowcount is -1 on psycopg here); the statement is built once per
    # (table, key, dialect) and takes the rows as parameters, so SQLAlchemy compiles it once, not once per call
    return len(conn.execute(_insert_ignore(conn.dialect.name, table, key), list(rows)).all())


_IGNORING: dict[tuple[str, str, str], Any] = {}


def _insert_ignore(dialect: str, table: Any, key: str) -> Any:
    cached = _IGNORING.get((dialect, table.name, key))
    if cached is None or cached.table is not table:
        dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = dialect_insert(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])
        cached = _IGNORING[(dialect, table.name, key)] = stmt
    return cached


def _claimable(now: datetime) -> Any:
    return (
        (outbox.c.status == "pending")
        & (outbox.c.available_at <= now)
        & or_(outbox.c.locked_until.is_(None), outbox.c.locked_until < now)
    )


def claim_due(conn: Connection, *, worker: str, now: datetime, lease: timedelta, limit: int) -> list[OutboxRow]:
    """Lease up to ``limit`` due rows to ``worker`` and count the attempt; returns them oldest first."""
    query = select(outbox.c.id).where(_claimable(now)).order_by(outbox.c.available_at, outbox.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(conn.execute(query).scalars())
    if not ids:
        return []
    conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(ids))
        .values(locked_by=worker, locked_until=now + lease, attempts=outbox.c.attempts + 1)
    )
    rows = conn.execute(select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.available_at, outbox.c.id))
    return [_row(r) for r in rows]


def mark_done(conn: Connection, ids: Iterable[int], now: datetime) -> int:
    """Record delivery (whoever holds the lease now: the action did reach the receiver)."""
    ids = list(ids)
    if not ids:
        return 0
    stmt = (
        update(outbox)
        .where(outbox.c.id.in_(ids), outbox.c.status == "pending")
        .values(status="done", delivered_at=now, locked_by=None, locked_until=None, last_error=None)
    )
    return int(conn.execute(stmt).rowcount)


def mark_retry(conn: Connection, row_id: int, *, worker: str, available_at: datetime, error: str) -> None:
    """Schedule the next attempt — only while ``worker`` still holds the lease (a worker whose lease ran out must
    not clobber the row another worker has claimed since)."""
    stmt = (
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.status == "pending", outbox.c.locked_by == worker)
        .values(available_at=available_at, locked_by=None, locked_until=None, last_error=error[:2000])
    )
    conn.execute(stmt)


def mark_dead(conn: Connection, row_id: int, *, worker: str, error: str) -> None:
    """Dead-letter the row — only while ``worker`` still holds the lease."""
    stmt = (
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.status == "pending", outbox.c.locked_by == worker)
        .values(status="dead", locked_by=None, locked_until=None, last_error=error[:2000])
    )
    conn.execute(stmt)


def reset_row(conn: Connection, row_id: int, now: datetime) -> int:
    """Put a dead (or stuck) row back in the queue with a fresh attempt budget."""
    stmt = (
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.status != "done")
        .values(status="pending", attempts=0, available_at=now, locked_by=None, locked_until=None)
    )
    return int(conn.execute(stmt).rowcount)


def delete_done(conn: Connection, before: datetime) -> int:
    """Delete delivered rows delivered before ``before`` (dead and pending rows are kept)."""
    stmt = delete(outbox).where(outbox.c.status == "done", outbox.c.delivered_at < before)
    return int(conn.execute(stmt).rowcount)


def get_row(conn: Connection, row_id: int) -> OutboxRow | None:
    row = conn.execute(select(outbox).where(outbox.c.id == row_id)).first()
    return None if row is None else _row(row)


def select_rows(conn: Connection, *, status: str | None = None, limit: int = 50) -> list[OutboxRow]:
    """The most recent rows first, optionally of one status."""
    query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(outbox.c.status == status)
    return [_row(r) for r in conn.execute(query)]


def count_by_status(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({str(status): int(n) for status, n in rows})
    return counts
