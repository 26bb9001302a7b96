"""What the plain lane of an events import owes: its contacts' attribution (and follow-up queue), applied once per
stretch, set-based, from the events the stretch stored.

The plain lane (:mod:`funnelbridge.ingest.bulkplain`) stores a chunk's events and new contacts and leaves their
contacts' attribution alone: at a million contacts each chunk touched tens of thousands of them spread over the
whole contacts table, and their one-row ``UPDATE`` per chunk was most of the writer's work. Instead the chunk
records, in the ``ingest_owed`` table and in its own transaction, that the events from its first one on are
*owed* (:func:`owe`); :func:`settle` then computes every contact's earliest event, earliest identifying event and
first and last touch from those events in one ``GROUP BY`` scan and runs the attribution ``UPDATE``
(:mod:`funnelbridge.ingest.attribution_sql`, whose conditions keep any stored value that is already better) in
contact-id order, queues the contacts for scoring when the stretch asked for it, and empties the table — all in
one transaction. The import settles at its end, and before any chunk that goes another way (event intake and the
row-wise lane read stored attribution).

An import killed before it settled leaves the row: the next events import (a re-run, whose rows are then all
duplicates, or any other) settles it with its own stretch, or :func:`settle` does. Events stored after
``from_event_id`` by others (event intake beside the import) are in the scan too; their attribution is already
applied, so the conditions leave it as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    String,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects import sqlite

from funnelbridge.ingest.attribution_sql import Mark, write_mark_columns, write_marks_sqlite
from funnelbridge.ingest.bulkstore import queue_contacts
from funnelbridge.ingest.ownfold import OwnFold
from funnelbridge.store.bulk import sqlite_time
from funnelbridge.store.tables import activity_queue, events, ingest_owed

__all__ = ["Deferral", "next_event_id", "owe", "owed", "settle", "settle_from"]

SETTLE_BATCH = 50_000
"""Contacts per ``executemany`` of the attribution ``UPDATE`` while the grouped scan is read."""


@dataclass(frozen=True, slots=True)
class Deferral:
    """How a run's plain chunks defer their work: ``queue_at`` the time their contacts are queued for scoring at
    when the stretch is settled (None: not queued)."""

    queue_at: datetime | None = None


_e = events.c
_SEP: ColumnElement[str] = literal_column("char(1)")  # sorts below every character of a source, medium or campaign
_EMPTY: ColumnElement[str] = literal_column("''")


def _part(column: Any) -> Any:
    return func.coalesce(column, _EMPTY)


def _touch_key() -> ColumnElement[str]:
    """The touch key (time, source, medium, campaign; None as "") as one text whose order is the tuple's, on the
    events that are touches."""
    touched = or_(_part(_e.source) != _EMPTY, _part(_e.medium) != _EMPTY, _part(_e.campaign) != _EMPTY)
    key = type_coerce(_e.occurred_at, String).concat(_SEP).concat(_part(_e.source)).concat(_SEP)
    return case((touched, key.concat(_part(_e.medium)).concat(_SEP).concat(_part(_e.campaign))))


@cache
def _scan_sql(dialect: Dialect) -> str:
    """Per contact of the events from ``?`` on: earliest event, earliest identifying one (no anonymous id: the
    plain lane's email and user-id rows), least and greatest touch key — in contact-id order."""
    touch = _touch_key()
    stmt = (
        select(
            _e.contact_id,
            func.min(_e.occurred_at),
            func.min(case((_e.anonymous_id.is_(None), _e.occurred_at))),
            func.min(touch),
            func.max(touch),
        )
        .where(_e.id >= bindparam("start"), _e.contact_id.is_not(None))
        .group_by(_e.contact_id)
        .order_by(_e.contact_id)
    )
    return str(stmt.compile(dialect=dialect))


@cache
def _queue_sql(dialect: Dialect) -> str:
    """Queue the contacts of the events from ``start`` on (contacts already queued keep their place)."""
    picked = select(_e.contact_id, bindparam("at")).where(_e.id >= bindparam("start"), _e.contact_id.is_not(None))
    stmt = sqlite.insert(activity_queue).from_select(["contact_id", "queued_at"], picked.distinct())
    compiled = stmt.on_conflict_do_nothing(index_elements=["contact_id"]).compile(dialect=dialect)
    assert compiled.positiontup == ["at", "start"]  # the order of the parameters given
    return str(compiled)


_NO_TOUCHES = (None,) * 8


def _touch(key: str) -> tuple[str | None, ...]:
    at, source, medium, campaign = key.split("\x01")
    return at, source or None, medium or None, campaign or None  # the lanes store no empty text ("" is None)


def _split(key: str | None) -> bool:
    """Whether a touch key splits back into its four parts (not when a part holds char(1) itself)."""
    return key is None or key.count("\x01") == 3


def _mark(row: Any) -> tuple[int, Mark]:
    cid, created, identified, head, tail = row
    if head is None:
        return cid, (created, identified, *_NO_TOUCHES)  # type: ignore[return-value]
    return cid, (created, identified, *_touch(head), *_touch(tail))  # type: ignore[return-value]


@cache
def _touches_sql(dialect: Dialect, last: bool) -> str:
    """A contact's first (or last) touch of the events from ``start`` on, ranked by its parts as a tuple."""
    parts = [_e.occurred_at, _part(_e.source), _part(_e.medium), _part(_e.campaign)]
    touched = or_(*(part != _EMPTY for part in parts[1:]))
    stmt = (
        select(type_coerce(_e.occurred_at, String), _e.source, _e.medium, _e.campaign)
        .where(_e.contact_id == bindparam("cid"), _e.id >= bindparam("start"), touched)
        .order_by(*(part.desc() if last else part for part in parts))
        .limit(1)
    )
    compiled = stmt.compile(dialect=dialect)
    assert compiled.positiontup == ["cid", "start", "param_1", "param_2"]  # cid, start, limit, offset
    return str(compiled)


def _exact_mark(conn: Connection, start: int, row: Any) -> tuple[int, Mark]:
    """The mark of a contact whose touch key cannot be split back (a part holds char(1)): its touches read apart."""
    cid, created, identified = row[:3]
    head, tail = (conn.exec_driver_sql(_touches_sql(conn.dialect, last), (cid, start, 1, 0)).one() for last in (0, 1))
    touches = [(at, source or None, medium or None, campaign or None) for at, source, medium, campaign in (head, tail)]
    return cid, (created, identified, *touches[0], *touches[1])  # type: ignore[return-value]


def _marks(conn: Connection, start: int, rows: Sequence[Any]) -> list[tuple[int, Mark]]:
    return [_mark(row) if _split(row[3]) and _split(row[4]) else _exact_mark(conn, start, row) for row in rows]


def settle_from(conn: Connection, start: int, now: datetime, queue_at: datetime | None = None) -> int:
    """Apply the attribution of the events from id ``start`` on (SQLite), and queue their contacts at
    ``queue_at`` when given; returns how many contacts were visited."""
    result = conn.exec_driver_sql(_scan_sql(conn.dialect), (start,))
    visited = 0
    try:
        while rows := result.fetchmany(SETTLE_BATCH):
            write_marks_sqlite(conn, _marks(conn, start, rows), now)
            visited += len(rows)
    finally:
        result.close()
    if queue_at is not None:
        _queue(conn, start, queue_at)
    return visited


def _queue(conn: Connection, start: int, at: datetime) -> None:
    conn.exec_driver_sql(_queue_sql(conn.dialect), (sqlite_time(at), start))


def next_event_id(conn: Connection) -> int:
    """The id the next stored event gets (SQLite: the write transaction holds the lock)."""
    return int(conn.execute(select(func.max(_e.id))).scalar() or 0) + 1


def owed(conn: Connection) -> list[tuple[int, datetime | None]]:
    """The owed stretches: ``(first event id, queue time or None)``, oldest first."""
    query = select(ingest_owed.c.from_event_id, ingest_owed.c.queued_at).order_by(ingest_owed.c.from_event_id)
    return [(int(start), at) for start, at in conn.execute(query)]


def owe(conn: Connection, start: int, deferral: Deferral) -> None:
    """Record that the events from ``start`` on are owed (in the caller's transaction), unless an owed stretch
    that begins no later already covers them (with the queueing the deferral asks for)."""
    queued = deferral.queue_at is not None
    for begin, at in owed(conn):
        if begin <= start and (at is not None or not queued):
            return
    conn.execute(insert(ingest_owed).values(from_event_id=start, queued_at=deferral.queue_at))


def settle(conn: Connection, now: datetime, fold: OwnFold | None = None) -> int:
    """Settle every owed stretch (SQLite; nothing elsewhere, where nothing is owed) in the caller's transaction:
    one scan from the oldest owed event, the contacts queued from the oldest stretch that asked for it (at its
    time); returns how many contacts were visited. With the ``fold`` of the import's plain chunks, when it
    :meth:`~funnelbridge.ingest.ownfold.OwnFold.covers` what is owed, the same ``UPDATE`` and queueing from it
    instead of the scan; the fold is emptied either way."""
    if conn.dialect.name != "sqlite":
        return 0
    stretches = owed(conn)
    try:
        if not stretches:
            return 0
        if fold is not None and fold.covers(conn, stretches):
            visited = _settle_folded(conn, fold, now, stretches[0][1])
            fold.applied += 1
        else:
            queued = [(begin, at) for begin, at in stretches if at is not None]
            visited = settle_from(conn, stretches[0][0], now)
            if queued:
                _queue(conn, queued[0][0], queued[0][1])  # type: ignore[arg-type]
        conn.execute(delete(ingest_owed))
        return visited
    finally:
        if fold is not None:
            fold.reset()


def _settle_folded(conn: Connection, fold: OwnFold, now: datetime, queue_at: datetime | None) -> int:
    """The scan's work from the fold: the attribution ``UPDATE`` in contact-id order, the queue."""
    visited = 0
    for ids, columns in fold.marks(SETTLE_BATCH):
        write_mark_columns(conn, ids, columns, now)
        visited += len(ids)
    if queue_at is not None:
        queue_contacts(conn, fold.contacts(), queue_at)
    return visited
