"""The transactional outbox, as a service: enqueue actions inside the caller's transaction, inspect the queue,
put dead actions back, and the retry schedule (exponential backoff with jitter).

Delivery is at-least-once; every action carries its idempotency key to the receiver (``Idempotency-Key`` header,
email ``Message-ID``), so a receiver that honours the key sees each action exactly once.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from funnelbridge.automation.batch import Writes
from funnelbridge.errors import DomainError, NotFoundError
from funnelbridge.store.db import Database
from funnelbridge.store.outbox import (
    OutboxRow,
    count_by_status,
    delete_done,
    get_row,
    insert_ignore,
    reset_row,
    select_rows,
)
from funnelbridge.store.tables import outbox

__all__ = ["Backoff", "OutboxListing", "OutboxRow", "enqueue", "list_outbox", "purge_outbox", "retry_outbox"]


def enqueue(
    conn: Connection,
    *,
    key: str,
    kind: str,
    payload: Mapping[str, Any],
    at: datetime,
    into: Writes | None = None,
) -> bool:
    """Write one action to the outbox in the caller's transaction; False when ``key`` was enqueued before. With
    ``into`` (a batch's buffer) the row is stored when the batch is flushed, and True means only "buffered"."""
    values = {
        "idempotency_key": key,
        "kind": kind,
        "payload": dict(payload),
        "status": "pending",
        "attempts": 0,
        "available_at": at,
        "created_at": at,
    }
    if into is not None:
        into.add_outbox(values)
        return True
    return insert_ignore(conn, outbox, [values], "idempotency_key") == 1


@dataclass(frozen=True)
class Backoff:
    """Delay before retry ``attempt`` (1-based): ``base * 2**(attempt-1)`` capped at ``cap``, with "equal jitter"
    (half fixed, half random) so retrying workers spread out. ``rng`` makes it deterministic in tests."""

    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(hours=1)

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        exp = min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** max(attempt - 1, 0))
        return timedelta(seconds=exp / 2 + rng.uniform(0, exp / 2))


@dataclass(frozen=True)
class OutboxListing:
    rows: list[OutboxRow]
    counts: dict[str, int]


def list_outbox(db: Database, *, failed: bool = False, status: str | None = None, limit: int = 50) -> OutboxListing:
    """Recent outbox rows (``failed``: dead-lettered ones) and the count per status."""
    with db.read() as conn:
        rows = select_rows(conn, status="dead" if failed else status, limit=limit)
        return OutboxListing(rows, count_by_status(conn))


def purge_outbox(db: Database, before: datetime) -> int:
    """Delete actions delivered before ``before``; returns how many. Dead and pending actions are kept."""
    with db.transaction() as conn:
        return delete_done(conn, before)


def retry_outbox(db: Database, row_id: int, now: datetime) -> OutboxRow:
    """Put a dead-lettered action back in the queue with a fresh attempt budget."""
    with db.transaction() as conn:
        row = get_row(conn, row_id)
        if row is None:
            raise NotFoundError(f"outbox action {row_id} does not exist")
        if row.status == "done":
            raise DomainError(f"outbox action {row_id} was delivered already; nothing to retry")
        reset_row(conn, row_id, now)
        updated = get_row(conn, row_id)
        assert updated is not None
        return updated
