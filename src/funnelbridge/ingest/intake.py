"""Event intake: storing a batch of validated activities — identity, events, traits, attribution — and the
library call :func:`ingest_events` over payloads.

A batch is stored as if its fresh events (duplicates by idempotency key dropped first, in the batch or already
stored) were stored one at a time in occurrence order, but set-wise: identifiers looked up in three queries,
strangers created in one insert, the contacts and accounts the batch may change held in a
:class:`~funnelbridge.ingest.book.Book` and written with one ``executemany`` per set of changed columns, events
inserted with one ``executemany`` and first/last touch applied with one per column group. Out-of-order delivery is
harmless: attribution and ``created_at`` keep the earliest/latest by occurrence time, not by arrival.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.sql.dml import Insert

from funnelbridge.errors import InputError
from funnelbridge.ingest.accounts import account_domain
from funnelbridge.ingest.attribution import Bounds, ContactActivity, Touch, apply_activity
from funnelbridge.ingest.book import Book
from funnelbridge.ingest.deadletter import Problem, Rejection
from funnelbridge.ingest.events import Activity, parse_payload
from funnelbridge.ingest.identity import IdentityCache, resolve_contact
from funnelbridge.ingest.strangers import create_strangers
from funnelbridge.ingest.summary import IngestSummary, Progress
from funnelbridge.ingest.traits import company_traits
from funnelbridge.runtime import Runtime
from funnelbridge.store.bulk import batched, execute_many, insert_ignore, lookup, sqlite_time
from funnelbridge.store.events import insert_event_tuples, insert_sqlite_event_params
from funnelbridge.store.tables import activity_queue, events

__all__ = ["DEFAULT_BATCH", "BatchResult", "Credit", "ingest_events", "queue_contacts", "store_activities", "unseen"]

DEFAULT_BATCH = 5000
RejectHook = Callable[[Rejection], None]
T = TypeVar("T")
_UNSUBSCRIBE = {"unsubscribe", "email_unsubscribe", "email_unsubscribed"}
_BOUNCE = {"email_bounce", "email_bounced", "bounce"}
_CONTACT_FLAGS = _UNSUBSCRIBE | _BOUNCE


@dataclass
class BatchResult:
    """What storing one batch did."""

    inserted: int = 0
    duplicates: int = 0
    created: int = 0
    identified: int = 0
    merged: int = 0
    contact_ids: set[int] = field(default_factory=set)
    moved: dict[int, int] = field(default_factory=dict)
    new_people: set[int] = field(default_factory=set)  # created or identified: match them to an account
    credits: dict[str, Credit] = field(default_factory=dict)  # by idempotency key: what storing that event did
    contact_of: dict[str, int] = field(default_factory=dict)  # by idempotency key of each fresh event: its contact

    def credit(self, key: str, *, created: int = 0, identified: int = 0, merged: int = 0) -> None:
        """Count contacts created, identified or merged both on the batch and on the event that did it."""
        self.created, self.identified, self.merged = (
            self.created + created,
            self.identified + identified,
            self.merged + merged,
        )
        old = self.credits.get(key, _NO_CREDIT)
        self.credits[key] = Credit(old.created + created, old.identified + identified, old.merged + merged)

    def credit_created(self, keys: Iterable[str]) -> None:
        """:meth:`credit` ``created=1`` for events not credited yet (each made one new contact)."""
        credits = self.credits
        for key in keys:
            credits[key] = _CREATED
            self.created += 1


@dataclass(frozen=True)
class Credit:
    """Contacts one stored event created, identified or merged (group commit reports them per request)."""

    created: int = 0
    identified: int = 0
    merged: int = 0


_NO_CREDIT = Credit()
_CREATED = Credit(created=1)


def unseen(conn: Connection, items: Sequence[T], key: Callable[[T], str], at: Callable[[T], datetime]) -> list[T]:
    """``items`` in occurrence order without repeated idempotency keys or keys already stored (the first wins)."""
    unique: dict[str, T] = {}
    for item in items:
        unique.setdefault(key(item), item)
    stored = lookup(conn, events.c.idempotency_key, events.c.idempotency_key, unique)
    fresh = [item for k, item in unique.items() if k not in stored]
    fresh.sort(key=lambda item: (at(item), key(item)))
    return fresh


def _fresh(conn: Connection, activities: Sequence[Activity]) -> tuple[list[Activity], int]:
    """Activities in occurrence order without repeated or already stored keys; and how many were dropped."""
    unique = {act.key: act for act in reversed(activities)}  # the first of a key is assigned last: it wins
    stored = lookup(conn, events.c.idempotency_key, events.c.idempotency_key, unique)
    fresh = [act for k, act in unique.items() if k not in stored] if stored else list(unique.values())
    fresh.sort(key=_OCCURRENCE)
    return fresh, len(activities) - len(fresh)


_OCCURRENCE = attrgetter("occurred_at", "key")  # the order of unseen()


def _contact_of(book: Book, act: Activity, result: BatchResult) -> tuple[int, bool]:
    """The contact of an event, and whether this event made it a known person (created or identified)."""
    cache = book.people
    known = (cache.by_external.get(act.user_id) if act.user_id else None) or (
        cache.by_email.get(act.email) if act.email else None
    )
    anon = cache.by_anon.get(act.anonymous_id) if act.anonymous_id else None
    if known is not None and (act.anonymous_id is None or anon == known):
        return known, False
    if known is None and anon is not None and not act.identifying:
        return anon, False
    return _resolved(book, act, result)


def _resolved(book: Book, act: Activity, result: BatchResult) -> tuple[int, bool]:
    """:func:`_contact_of` past its fast paths: identity resolution proper."""
    res = resolve_contact(
        book, email=act.email, external_id=act.user_id, anonymous_id=act.anonymous_id, at=act.occurred_at
    )
    result.credit(act.key, created=res.created, identified=res.identified, merged=res.merged_id is not None)
    new = bool((res.created and act.identifying) or res.identified)
    if new:
        result.new_people.add(res.contact_id)
    if res.merged_id is not None:
        result.moved[res.merged_id] = res.contact_id
    return res.contact_id, new


def _row(act: Activity, contact_id: int, now: datetime) -> tuple[Any, ...]:
    """The event's row in :data:`~funnelbridge.store.events.EVENT_COLUMNS` order."""
    return (act.key, contact_id, act.anonymous_id, act.type, act.occurred_at, now, act.path, act.campaign,
            act.source, act.medium, act.properties)  # fmt: skip


def _sqlite_row(act: Activity, contact_id: int, now: str) -> tuple[Any, ...]:
    """:func:`_row` as SQLite driver parameters (:func:`~funnelbridge.store.events.insert_sqlite_event_params`):
    times as the column type stores them, properties as JSON text."""
    props = act.properties
    return (act.key, contact_id, act.anonymous_id, act.type, act.stamp or sqlite_time(act.occurred_at), now,
            act.path, act.campaign, act.source, act.medium, None if props is None else _json(props))  # fmt: skip


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps`` with its default settings for the properties of events, without building an encoder per call
    (a third of its cost for small objects): the C encoder ``json.dumps`` itself uses, built once (no circular-
    reference bookkeeping: a circular or odd object falls back to ``json.dumps``, which raises as before)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has it
        return json.dumps
    encode = make(None, json.JSONEncoder().default, json.encoder.encode_basestring_ascii, None, ": ", ", ",
                  False, False, True)  # fmt: skip

    def dumps(obj: Any) -> str:
        if type(obj) is dict:
            try:
                return "".join(encode(obj, 0))
            except (TypeError, ValueError, RecursionError):
                pass
        return json.dumps(obj)

    return dumps


_json = _json_encoder()


@dataclass
class _Batch:
    """One batch on its way into the store: event rows and attribution not written yet, and the book of contacts
    and accounts. Everything is written at the end — or before a merge, which reads and moves stored rows: the
    rows of the two contacts then (``held`` finds them; a written row's place becomes None)."""

    conn: Connection
    now: datetime
    bounds: Bounds | None
    result: BatchResult
    book: Book
    rows: list[tuple[Any, ...] | None] = field(default_factory=list)
    held: dict[int, list[int]] = field(default_factory=dict)  # by contact: the places of its rows in ``rows``
    seen: dict[int, ContactActivity] = field(default_factory=dict)
    touched: set[int] = field(default_factory=set)
    stamp: str | None = None  # on SQLite: the batch's ``now`` as stored (rows are then driver parameters)

    def __post_init__(self) -> None:
        if self.conn.dialect.name == "sqlite":
            self.stamp = sqlite_time(self.now)

    def add(self, act: Activity, made_person: bool) -> None:
        contact_id, new = _contact_of(self.book, act, self.result)
        rows, at = self.rows, act.occurred_at
        places = self.held.get(contact_id)
        if places is None:
            self.held[contact_id] = [len(rows)]
        else:
            places.append(len(rows))
        stamp = self.stamp
        rows.append(_row(act, contact_id, self.now) if stamp is None else _sqlite_row(act, contact_id, stamp))
        self.result.contact_of[act.key] = contact_id
        seen = self.seen.get(contact_id)
        if seen is None:
            seen = self.seen[contact_id] = ContactActivity()
        if act.source or act.medium or act.campaign:
            seen.see(at, Touch(at, act.source, act.medium, act.campaign), act.identifying)
        else:
            seen.see(at, None, act.email is not None or act.user_id is not None)
        if act.traits or act.type in _CONTACT_FLAGS:
            self.book.apply_traits(contact_id, _traits_of(act))
        elif new or made_person:
            self.book.apply_traits(contact_id, {})

    def write(self, only: set[int] | None = None) -> None:
        """Write the events and attribution held so far — all, or ``only`` those of some contacts (before a merge
        of them). The book is flushed first: attribution of ``identified_at`` needs the stored email."""
        rows: list[Any]
        if only is None:
            rows = [r for r in self.rows if r is not None]
            seen, self.rows, self.held, self.seen = self.seen, [], {}, {}
        else:
            places = sorted(i for cid in only for i in self.held.pop(cid, ()))
            rows = [self.rows[i] for i in places]
            for i in places:
                self.rows[i] = None
            seen = {cid: self.seen.pop(cid) for cid in only if cid in self.seen}
        if self.stamp is None:
            inserted = insert_event_tuples(self.conn, rows)
        else:
            inserted = insert_sqlite_event_params(self.conn, rows)
        self.result.inserted += inserted
        self.result.duplicates += len(rows) - inserted
        apply_activity(self.conn, seen, self.now, self.bounds)
        self.touched.update(seen)

    def finish(self) -> None:
        self.book.flush()
        self.write()
        moved = self.result.moved
        if moved:
            self.result.contact_of = {k: _final(moved, c) for k, c in self.result.contact_of.items()}
        self.result.contact_ids = {_final(moved, c) for c in self.touched}


def _final(moved: dict[int, int], contact_id: int) -> int:
    while contact_id in moved:
        contact_id = moved[contact_id]
    return contact_id


def store_activities(
    conn: Connection, activities: Sequence[Activity], now: datetime, bounds: Bounds | None = None
) -> BatchResult:
    """Store one batch of validated activities in the caller's transaction (``bounds``: see
    :class:`~funnelbridge.ingest.attribution.Bounds`, shared by the batches of one run).

    The result is what storing the fresh events one at a time in occurrence order would give, written set-wise:
    identifiers looked up in three queries, strangers created in one insert, the rows of contacts that traits or
    identification change loaded in one query and changed in memory (:class:`~funnelbridge.ingest.book.Book`),
    then one executemany per kind of write."""
    fresh, dropped = _fresh(conn, activities)
    batch = _Batch(conn, now, bounds, BatchResult(duplicates=dropped), Book(conn, now))
    batch.book.barrier = batch.write
    book = batch.book
    book.people.prefetch(conn, (a.email for a in fresh), (a.user_id for a in fresh), (a.anonymous_id for a in fresh))
    made = create_strangers(book, fresh, batch.result)
    _prefetch_rows(book, fresh, made)
    for act in fresh:
        batch.add(act, act.key in made)
    batch.finish()
    book.barrier = _no_barrier  # the batch and its book refer to each other: unlinked, reference counting frees
    return batch.result  # them now instead of Python's cyclic collector later


def _no_barrier(contact_ids: set[int]) -> None:
    """A finished batch's book has nothing left to write before a merge."""


def _wanted(cache: IdentityCache, fresh: Sequence[Activity], made: set[str]) -> list[tuple[Activity, list[int]]]:
    """The events that may change their contact's row — traits, an unsubscribe or bounce, a new person (matched to
    an account), an identification or merge (anything but the fast paths of :func:`_contact_of`) — each with the
    contacts its identifiers point to now."""
    by_email, by_external, by_anon = cache.by_email, cache.by_external, cache.by_anon
    wanted = []
    for act in fresh:
        email, user, anon = act.email, act.user_id, act.anonymous_id
        if not (act.traits or act.type in _CONTACT_FLAGS or act.key in made):
            if email is None and user is None:
                continue
            known = by_external.get(user or "") or by_email.get(email or "")
            if known is not None and (anon is None or by_anon.get(anon) == known):
                continue
        keys = ((by_email, email), (by_external, user), (by_anon, anon))
        wanted.append((act, [table[key] for table, key in keys if key is not None and key in table]))
    return wanted


def _prefetch_rows(book: Book, fresh: Sequence[Activity], made: set[str]) -> None:
    """Load, in one query each, the contacts the batch may change, the accounts they may be matched to (when they
    have none or a domain is given) and the rows of accounts that company traits may change."""
    wanted = _wanted(book.people, fresh, made)
    book.load(cid for _, ids in wanted for cid in ids)
    domains, company, firms = set[str | None](), set[str | None](), set[int]()
    for act, ids in wanted:
        traits, rows = act.traits or {}, [book.rows[cid] for cid in ids if cid in book.rows]
        if traits.get("domain") or not rows or any(r["account_id"] is None for r in rows):
            mine = {account_domain(act.email, traits.get("domain"))}
            mine.update(account_domain(r["email"], None) for r in rows)
            domains |= mine
            company |= mine if company_traits(traits) else set()
        if company_traits(traits):
            firms.update(r["account_id"] for r in rows if r["account_id"] is not None)
    book.prefetch_accounts(domains, company, firms)


def _traits_of(act: Activity) -> dict[str, Any]:
    traits = dict(act.traits or {})
    if act.type in _UNSUBSCRIBE:
        traits["unsubscribed"] = True
    if act.type in _BOUNCE:
        traits["bounced"] = True
    return traits


def _validate(
    chunk: Sequence[tuple[int, Any]], now: datetime, summary: IngestSummary, on_reject: RejectHook | None
) -> list[Activity]:
    valid = []
    for index, payload in chunk:
        try:
            valid.append(parse_payload(payload, index=index, now=now))
        except InputError as exc:
            rejection = Rejection(index, (Problem(exc.field or "payload", exc.reason),), (payload,))
            summary.reject(rejection)
            if on_reject:
                on_reject(rejection)
    return valid


def ingest_events(
    rt: Runtime,
    payloads: Iterable[Mapping[str, Any]],
    progress: Progress | None = None,
    *,
    batch_size: int = DEFAULT_BATCH,
    after: bool = True,
    defer: bool = False,
    on_reject: RejectHook | None = None,
) -> IngestSummary:
    """Validate and store event payloads in batches (one transaction each); payloads are numbered from 1.

    Bad payloads are rejected with their number, field and reason (see ``IngestSummary.rejections``) and the
    rest stored. With ``after`` (the default) each batch's contacts are re-scored and advanced through the
    lifecycle (:func:`funnelbridge.flow.after_activity`) in the same transaction; with ``defer`` they are queued
    instead (:mod:`funnelbridge.activity`) and a drainer scores them moments later. ``on_reject`` sees every
    rejection (the summary keeps only the first thousand)."""
    from funnelbridge.flow import after_activity

    summary, bounds = IngestSummary(), Bounds()
    for chunk in batched(enumerate(payloads, start=1), batch_size):
        now = rt.clock.now()
        summary.received += len(chunk)
        valid = _validate(chunk, now, summary, on_reject)
        with rt.db.transaction() as conn:
            result = store_activities(conn, valid, now, bounds)
            if after and defer and result.contact_ids:
                queue_contacts(conn, result.contact_ids, now)
            elif after and result.contact_ids:
                after_activity(rt, conn, sorted(result.contact_ids))
        _count(summary, result)
        if progress:
            progress(len(chunk))
    return summary


def queue_contacts(conn: Connection, contact_ids: Iterable[int], at: datetime) -> None:
    """Queue contacts for the drainer (:mod:`funnelbridge.activity`), in the caller's transaction; contacts
    already queued keep their place. The same rows as :func:`funnelbridge.activity.enqueue`, written with one
    compiled ``executemany`` instead of a multi-row VALUES statement that SQLAlchemy compiles anew per batch."""
    rows = [{"contact_id": cid, "queued_at": at} for cid in sorted(set(contact_ids))]
    stmt = _QUEUE_INSERT.get(conn.dialect.name)
    if stmt is None:
        stmt = _QUEUE_INSERT.setdefault(conn.dialect.name, insert_ignore(conn, activity_queue, ["contact_id"]))
    execute_many(conn, stmt, rows)


_QUEUE_INSERT: dict[str, Insert] = {}  # by dialect: built once, so execute_many compiles it once


def _count(summary: IngestSummary, result: BatchResult) -> None:
    summary.accepted += result.inserted
    summary.duplicates += result.duplicates
    summary.contacts_created += result.created
    summary.identified += result.identified
    summary.merged += result.merged
    summary.contacts_touched += len(result.contact_ids)
