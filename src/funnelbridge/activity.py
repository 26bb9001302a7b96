"""Deferred processing of new activity: fast intake stores events and queues the touched contacts; a drainer
(the API server's background task, ``funnelbridge worker``, or :func:`drain` directly) scores and advances them in
batches — the same :func:`funnelbridge.flow.after_activity` the synchronous path runs.

This is how the event API keeps up with bursts: a request commits the events and answers 202 at once, and the
lead's score and stage follow within moments. Each contact is queued once however many events arrive for it before
the drain, so a burst of 1,000 events for one lead costs one rescore.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from funnelbridge.gcpause import gc_paused
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import activity_queue

__all__ = ["DrainResult", "Drainer", "drain", "enqueue", "gc_paused", "pending"]


def enqueue(conn: Connection, contact_ids: Iterable[int], at: datetime) -> int:
    """Queue contacts for scoring and lifecycle (in the caller's transaction); already-queued ones stay queued."""
    rows = [{"contact_id": cid, "queued_at": at} for cid in sorted(set(contact_ids))]
    if not rows:
        return 0
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert(activity_queue).values(rows).on_conflict_do_nothing(index_elements=["contact_id"]))
    return len(rows)


def pending(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(activity_queue)).scalar_one())


@dataclass(frozen=True)
class DrainResult:
    contacts: int
    transitions: int
    failed: tuple[tuple[int, str], ...] = ()


def _claim(conn: Connection, limit: int) -> list[int]:
    """Take the ``limit`` oldest queued contacts off the queue (one DELETE ... RETURNING of the oldest; on
    PostgreSQL rows another drainer holds are skipped), oldest first."""
    q = activity_queue.c
    oldest = select(q.contact_id).order_by(q.queued_at, q.contact_id).limit(limit)
    if conn.dialect.name == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)
    claimed = conn.execute(delete(activity_queue).where(q.contact_id.in_(oldest)).returning(q.contact_id, q.queued_at))
    return [int(cid) for cid, _ in sorted(claimed, key=lambda row: (row[1], row[0]))]


def _one_by_one(rt: Runtime, ids: list[int]) -> tuple[int, list[tuple[int, str]]]:
    """After a batch failed: process each contact alone; a contact that fails alone leaves the queue with its
    error reported (its events are stored; the next activity or a rescore picks it up again)."""
    from funnelbridge.flow import after_activity

    moves, failed = 0, []
    for cid in ids:
        try:
            with rt.db.transaction() as conn:
                conn.execute(delete(activity_queue).where(activity_queue.c.contact_id == cid))
                moves += after_activity(rt, conn, [cid]).transitions
        except Exception as exc:
            failed.append((cid, f"{type(exc).__name__}: {exc}"))
            with rt.db.transaction() as conn:
                conn.execute(delete(activity_queue).where(activity_queue.c.contact_id == cid))
    return moves, failed


def drain(rt: Runtime, *, batch: int = 500, max_batches: int | None = None) -> DrainResult:
    """Score and advance queued contacts, ``batch`` per transaction, until the queue is empty (cyclic garbage
    collection paused during each batch: :func:`gc_paused`)."""
    from funnelbridge.flow import after_activity

    contacts = moves = rounds = 0
    failed: list[tuple[int, str]] = []
    while max_batches is None or rounds < max_batches:
        ids: list[int] = []
        try:
            with gc_paused(), rt.db.transaction() as conn:
                ids = _claim(conn, batch)
                if not ids:
                    break
                moves += after_activity(rt, conn, ids).transitions
        except Exception:
            if not ids:
                raise
            extra, bad = _one_by_one(rt, ids)
            moves, failed = moves + extra, failed + bad
        contacts, rounds = contacts + len(ids), rounds + 1
    return DrainResult(contacts, moves, tuple(failed))


class Drainer:
    """A background thread that drains the queue every ``interval`` seconds until stopped. It works in small
    batches with a pause between them, so intake requests get the (SQLite) write lock in between."""

    def __init__(self, rt: Runtime, interval: float = 0.25, batch: int = 25) -> None:
        self.rt, self.interval, self.batch = rt, interval, batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="funnelbridge-drainer", daemon=True)
        self.errors: list[str] = []

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            done = 0
            try:
                result = drain(self.rt, batch=self.batch, max_batches=1)
                done = result.contacts
                self.errors += [f"contact {cid}: {why}" for cid, why in result.failed]
            except Exception as exc:  # e.g. the database is unreachable: keep trying
                self.errors.append(f"{type(exc).__name__}: {exc}")
            del self.errors[:-100]
            self._stop.wait(0.005 if done else self.interval)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the batch in hand; what is still queued stays in the store for the next drainer."""
        self._stop.set()
        self._thread.join(timeout)
