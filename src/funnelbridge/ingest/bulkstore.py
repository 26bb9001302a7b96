"""The database side of the set-wise events import (:mod:`funnelbridge.ingest.bulkevents`): key look-ups, new
contacts, stored attribution and event times — on SQLite through statements compiled once and run over plain
tuples (SQLAlchemy's per-row parameter and result processing cost more than the queries), elsewhere through the
repositories."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from itertools import compress
from operator import attrgetter, itemgetter, methodcaller
from typing import Any

from sqlalchemy import Column, Connection, Dialect, String, bindparam, func, select
from sqlalchemy.dialects import sqlite

from funnelbridge.store import contacts as contact_repo
from funnelbridge.store import identities as identity_repo
from funnelbridge.store.bulk import LOOKUP_BATCH, batched, lookup, sqlite_time
from funnelbridge.store.tables import activity_queue, contacts

__all__ = ["create_contacts", "ids_of", "insert_contacts", "queue_contacts", "sqlite_times", "stored_attribution"]

_c = contacts.c
_MAX_CONTACT_ID = select(func.max(_c.id))
_ATTRIBUTION = select(
    *(_c[n] for n in ("id", "created_at", "identified_at", "first_touch_at", "first_source", "first_medium",
                      "first_campaign", "last_touch_at", "last_source", "last_medium", "last_campaign"))
)  # fmt: skip
_AMONG = func.json_each(bindparam("among", type_=String)).table_valued("value")
_TZINFO = attrgetter("tzinfo")
_ISO = methodcaller("isoformat", " ", "microseconds")
_FIRST_26 = itemgetter(slice(0, 26))


def ids_of(conn: Connection, key: Column[Any], value: Column[Any], keys: Iterable[str | None]) -> dict[str, int]:
    """``{key: value}`` for the stored rows whose text ``key`` is one of ``keys`` (None skipped), as
    :func:`funnelbridge.store.bulk.lookup`; on SQLite as raw rows of a query compiled once."""
    if conn.dialect.name != "sqlite":
        return lookup(conn, key, value, keys)
    sql = _lookup_sql(conn.dialect, key, value)
    found: dict[str, int] = {}
    for chunk in batched(sorted({k for k in keys if k is not None}), LOOKUP_BATCH):
        found.update(conn.exec_driver_sql(sql, (json.dumps(chunk),)).fetchall())
    return found


@cache
def _lookup_sql(dialect: Dialect, key: Column[Any], value: Column[Any]) -> str:
    return str(select(key, value).where(key.in_(select(_AMONG.c.value))).compile(dialect=dialect))


def insert_contacts(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert new contacts; their ids in the order of ``rows``. On SQLite the ids are the next free rowids, given
    explicitly (the write transaction holds the database lock), which lets one ``executemany`` store them all —
    an INSERT ... RETURNING in parameter order ran one statement per contact there; the rows go column by column
    (a dict update and a conversion per row cost 7.8 CPU s for 180,000 contacts)."""
    if conn.dialect.name != "sqlite":
        return contact_repo.insert_contacts_returning(conn, rows)
    start = (conn.execute(_MAX_CONTACT_ID).scalar() or 0) + 1
    count = len(rows)
    columns: dict[str, Sequence[Any]] = {name: list(map(itemgetter(name), rows)) for name in rows[0]} if rows else {}
    defaults = {"version": 1, "unsubscribed": False, "bounced": False}  # the columns' defaults
    columns.update({name: [value] * count for name, value in defaults.items()}, id=range(start, start + count))
    contact_repo.insert_contact_columns(conn, columns)
    return list(columns["id"])


def create_contacts(conn: Connection, kinds: Sequence[str], values: Sequence[str], stamps: Sequence[str]) -> list[int]:
    """New contacts, one per identifier ``(kinds[i], values[i])`` (kind ``email``, ``external`` or ``anon``), each
    created at ``stamps[i]`` — a time as SQLite stores it (:func:`~funnelbridge.store.bulk.sqlite_time`), which
    identifies the contact too unless it is anonymous; each anonymous one linked to its cookie (``identities``).
    Their ids, in order: on SQLite the next free rowids, given explicitly (the write transaction holds the lock).

    The plain lane holds each event's stored text, so on SQLite the times go in as they are and nothing is built
    per contact in Python: :func:`~funnelbridge.store.contacts.insert_stamped_contacts`, then the links column by
    column. The plain lane's rows of dicts of ``datetime`` values, formatted back into the same texts, cost 17.4
    CPU-µs a new anonymous contact, this 7.6 (400,000 in chunks of 2,500 on a store of 1,000,000, three rounds
    alternating, load 4–6.5: 6.95 → 3.04 CPU s; of the 3.04, SQLite's identities insert 1.5 and contacts insert
    0.9); the rows stored are the same, byte for byte."""
    if conn.dialect.name != "sqlite":
        return _create_rows(conn, kinds, values, stamps)
    start = (conn.execute(_MAX_CONTACT_ID).scalar() or 0) + 1
    ids = range(start, start + len(values))
    emails, external_ids = _where("email".__eq__, kinds, values), _where("external".__eq__, kinds, values)
    contact_repo.insert_stamped_contacts(conn, start, stamps, emails, external_ids)
    anon = list(map("anon".__eq__, kinds))
    identity_repo.link_identity_columns(
        conn, list(compress(values, anon)), list(compress(ids, anon)), list(compress(stamps, anon))
    )
    return list(ids)


def _where(test: Callable[[str], bool], kinds: Sequence[str], values: Sequence[Any]) -> Sequence[Any]:
    """``values[i]`` where ``test(kinds[i])``, else None; C-level when all or none pass (anonymous visitors)."""
    picked = list(map(test, kinds))
    if all(picked):
        return values
    if not any(picked):
        return [None] * len(picked)
    return [value if keep else None for keep, value in zip(picked, values, strict=True)]


def _create_rows(conn: Connection, kinds: Sequence[str], values: Sequence[str], stamps: Sequence[str]) -> list[int]:
    """:func:`create_contacts` through the repositories (times as ``datetime``), for any database."""
    times = [datetime.fromisoformat(s).replace(tzinfo=UTC) for s in stamps]
    rows = [{"email": value if kind == "email" else None, "external_id": value if kind == "external" else None,
             "created_at": at, "identified_at": None if kind == "anon" else at, "updated_at": at,
             "version": 1, "unsubscribed": False, "bounced": False}
            for kind, value, at in zip(kinds, values, times, strict=True)]  # fmt: skip
    made = contact_repo.insert_contacts_returning(conn, rows)
    links = [{"anonymous_id": value, "contact_id": contact_id, "first_seen_at": at}
             for kind, value, at, contact_id in zip(kinds, values, times, made, strict=True)
             if kind == "anon"]  # fmt: skip
    identity_repo.link_identities(conn, links)
    return made


def stored_attribution(conn: Connection, ids: list[int]) -> list[Sequence[Any]]:
    """The attribution columns of contacts ``ids``; on SQLite as the driver's tuples (times as stored text)."""
    if conn.dialect.name == "sqlite":
        result = conn.exec_driver_sql(_attribution_sql(conn.dialect), (json.dumps(ids),))
        try:
            return list(result.cursor.fetchall())  # type: ignore[union-attr]
        finally:
            result.close()
    return list(conn.execute(_ATTRIBUTION.where(_c.id.in_(ids))))


@cache
def _attribution_sql(dialect: Dialect) -> str:
    return str(_ATTRIBUTION.where(_c.id.in_(select(_AMONG.c.value))).compile(dialect=dialect))


def sqlite_times(values: Sequence[datetime]) -> list[str]:
    """:func:`~funnelbridge.store.bulk.sqlite_time` of each value; in C-level maps when all are UTC already."""
    if set(map(_TZINFO, values)) == {UTC}:
        return list(map(_FIRST_26, map(_ISO, values)))  # "YYYY-MM-DD HH:MM:SS.ffffff", the "+00:00" cut off
    return list(map(sqlite_time, values))


def queue_contacts(conn: Connection, contact_ids: Iterable[int], at: datetime) -> None:
    """Queue contacts for the drainer, as :func:`funnelbridge.ingest.intake.queue_contacts` does (contacts already
    queued keep their place); on SQLite one statement over the ids as one JSON array (``json_each``): an
    ``executemany`` of a row each cost 1.7 CPU s a million contacts, this 0.4."""
    if conn.dialect.name != "sqlite":
        from funnelbridge.ingest.intake import queue_contacts as queue

        queue(conn, contact_ids, at)
        return
    ids = sorted(set(contact_ids))
    if ids:
        conn.exec_driver_sql(_queue_sql(conn.dialect), (sqlite_time(at), json.dumps(ids)))


@cache
def _queue_sql(dialect: Dialect) -> str:
    picked = select(_AMONG.c.value, bindparam("q")).where(_AMONG.c.value.is_not(None))  # a WHERE: see below
    stmt = sqlite.insert(activity_queue).from_select(["contact_id", "queued_at"], picked)
    compiled = stmt.on_conflict_do_nothing(index_elements=["contact_id"]).compile(dialect=dialect)
    assert compiled.positiontup == ["q", "among"]  # the order of the parameters given
    return str(compiled)  # SQLite's upsert after a SELECT needs its WHERE (else "ON CONFLICT" parses as a join's ON)
