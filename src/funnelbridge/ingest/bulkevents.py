"""Set-based event import: a converted chunk of event rows (:class:`~funnelbridge.ingest.columnar.Columns`) stored
with a handful of statements, whatever its size.

Rows are checked column-wise with the rules of :func:`~funnelbridge.ingest.activities.activity_of` (same fields and
reasons), deduplicated by idempotency key in the chunk and against the store (one look-up), and split in two:

- *simple* rows name a person by exactly one identifier (an email, an external id or an anonymous id). Their
  contacts are found with one look-up per identifier kind, the missing ones created in one insert (at the time of
  their first event, as event intake does), the events inserted with one ``executemany``, new people matched to
  accounts, and the first/last touch and earliest times written per contact
  (:func:`~funnelbridge.ingest.attribution.apply_activity`);
- every other row — an identification (anonymous id plus email), an unsubscribe or bounce — and every simple row
  sharing an identifier with one goes through event intake's own :func:`~funnelbridge.ingest.intake.store_activities`
  in occurrence order, so identification and merges work exactly as they do for event payloads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import repeat
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection

from funnelbridge.ingest.accounts import AccountCache
from funnelbridge.ingest.activities import normalized_name
from funnelbridge.ingest.attribution import ContactActivity, Touch, apply_activity
from funnelbridge.ingest.bounds import seed_bounds, skip_settled
from funnelbridge.ingest.bulkplain import KEY, PlainPlan, plan_plain, store_plain, subset
from funnelbridge.ingest.bulkstore import ids_of, insert_contacts, sqlite_times
from funnelbridge.ingest.columnar import Columns
from funnelbridge.ingest.context import ImportContext
from funnelbridge.ingest.deadletter import Problem
from funnelbridge.ingest.events import EVENT_TYPES, Activity, derive_key, stored_type
from funnelbridge.ingest.intake import store_activities
from funnelbridge.ingest.owed import Deferral, settle
from funnelbridge.ingest.traits import apply_traits
from funnelbridge.store import identities as identity_repo
from funnelbridge.store.bulk import lookup, sqlite_time
from funnelbridge.store.events import insert_event_tuples, insert_sqlite_event_params
from funnelbridge.store.tables import contacts, events, identities

__all__ = ["EventChunk", "Guess", "prepare_event_columns", "write_event_columns"]

_ORDER = attrgetter("at", "key")  # occurrence order, as unseen() sorts
_SPECIAL = {"unsubscribe", "email_unsubscribe", "email_unsubscribed", "email_bounce", "email_bounced", "bounce"}


@lru_cache(maxsize=4096)
def _kind_and_type(type_text: str | None, event_text: str | None) -> tuple[str, str] | tuple[None, str, str]:
    """``(kind, stored type)`` of a row's type and event columns, or ``(None, field, reason)``."""
    kind, event = normalized_name(type_text), normalized_name(event_text)
    if kind == "" or event == "":
        return None, "type" if kind == "" else "event", "expected a name of letters, digits and _"
    if kind in EVENT_TYPES:
        if kind in ("track", "email") and not event:
            return None, "event", f"a {kind} row needs an event name such as asset_download"
        return kind, stored_type(kind, event)
    if kind or event:
        return "track", (kind or event)  # type: ignore[return-value]
    return None, "type", "missing: the event type (page_view, asset_download ...)"


@dataclass(slots=True)
class _Row:
    """One valid event row of the chunk."""

    key: str
    kind: str
    type: str
    at: datetime
    anon: str | None
    email: str | None
    user: str | None
    path: str | None
    source: str | None
    medium: str | None
    campaign: str | None
    props: Any
    stamp: str  # ``at`` as SQLite stores it (:func:`~funnelbridge.store.bulk.sqlite_time`)

    def activity(self) -> Activity:
        return Activity(self.key, self.kind, self.type, self.at, self.anon, self.email, self.user, self.path,
                        self.source, self.medium, self.campaign, self.props)  # fmt: skip


class EventChunk:
    """A converted chunk checked and keyed without the database (:func:`prepare_event_columns`): its event rows
    without repeated keys (the first wins) in occurrence order (time, then key), how many repeats were dropped,
    its refused rows ``(row number, raw values, problem)`` in file order, whether any row needs event intake
    (:func:`_split`) and, when none does, the rows grouped by person for the plain lane
    (:class:`~funnelbridge.ingest.bulkplain.PlainPlan`).

    The rows are held column by column (lists of plain values in :class:`_Row` field order: several times cheaper
    to pickle, load and insert than a row object each) and made :class:`_Row` objects only when asked for."""

    __slots__ = ("_columns", "_rows", "plan", "refused", "repeats", "special")

    def __init__(
        self,
        rows: list[_Row] | None,
        repeats: int,
        refused: list[tuple[int, Sequence[Any], Problem]],
        special: bool,
        *,
        columns: list[list[Any]] | None = None,
        plan: PlainPlan | None = None,
    ) -> None:
        self._rows, self._columns = rows, columns
        self.repeats, self.refused, self.special, self.plan = repeats, refused, special, plan

    @property
    def rows(self) -> list[_Row]:
        if self._rows is None:
            self._rows = list(map(_Row, *self.columns)) if self.columns[0] else []
        return self._rows

    @property
    def columns(self) -> list[list[Any]]:
        if self._columns is None:
            rows = self._rows or []
            self._columns = [list(c) for c in zip(*map(_FIELDS, rows), strict=True)] if rows else [[] for _ in _NAMES]
        return self._columns

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventChunk) and self.__reduce__()[1] == other.__reduce__()[1]

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled column by column, for the parsing process of :mod:`funnelbridge.ingest.pipeline`."""
        return _event_chunk, (self.columns, self.repeats, self.refused, self.special, self.plan)


_NAMES = _Row.__slots__
_FIELDS = attrgetter(*_NAMES)


def _event_chunk(
    columns: list[list[Any]],
    repeats: int,
    refused: list[tuple[int, Sequence[Any], Problem]],
    special: bool,
    plan: PlainPlan | None = None,
) -> EventChunk:
    return EventChunk(None, repeats, refused, special, columns=columns, plan=plan)


def prepare_event_columns(cols: Columns) -> EventChunk:
    """The database-free part of :func:`write_event_columns`: rows checked column-wise (same fields and reasons
    as ``activity_of``), idempotency keys derived, repeated keys dropped (the first wins), the rows sorted in
    occurrence order and their times formatted for SQLite. Touches no database: the parsing process of
    :mod:`funnelbridge.ingest.pipeline` runs it (a thread did not pay: see docs/ingest.md)."""
    get = cols.get
    out: list[_Row] = []
    refused: list[tuple[int, Sequence[Any], Problem]] = []
    fields = zip(cols.rows, cols.raws, get("type"), get("event"), get("occurred_at"), get("email"), get("user_id"),
                 get("anonymous_id"), get("idempotency_key"), get("properties"), get("path"), get("source"),
                 get("medium"), get("campaign"), _stamps(get("occurred_at")), strict=True)  # fmt: skip
    for number, raw, t, e, at, email, user, anon, key, props, path, source, medium, campaign, stamp in fields:
        named = _kind_and_type(t, e)
        problem = named[1:] if named[0] is None else None
        if problem is None and at is None:
            problem = ("occurred_at", "missing: when the event happened")
        if problem is None and not (email or user or anon):
            problem = ("email", "an event needs an email, a user id or an anonymous id")
        if problem is not None:
            refused.append((number, raw, Problem(*problem)))
            continue
        kind, type_ = named[0], named[1]
        key = key or derive_key(kind, anon, email, user, type_, at, props)  # type: ignore[arg-type]
        out.append(_Row(key, kind, type_, at, anon, email, user, path, source, medium, campaign, props, stamp))  # type: ignore[arg-type]
    unique: dict[str, _Row] = {}
    for row in out:
        unique.setdefault(row.key, row)
    special = any(r.type in _SPECIAL or (r.anon is not None) + (r.email is not None) + (r.user is not None) > 1
                  for r in unique.values())  # fmt: skip
    chunk = EventChunk(sorted(unique.values(), key=_ORDER), len(out) - len(unique), refused, special)
    if not special:
        chunk.plan = plan_plain(chunk.columns)
    return chunk


def _stamps(values: list[datetime | None]) -> Sequence[str | None]:
    """:func:`~funnelbridge.ingest.bulkstore.sqlite_times` of a column that may hold None (rows refused later)."""
    if None not in values:
        return sqlite_times(values)  # type: ignore[arg-type]
    return [None if v is None else sqlite_time(v) for v in values]


def _fresh(conn: Connection, rows: list[_Row]) -> list[_Row]:
    """The chunk's rows (unique keys, in occurrence order) whose keys are not stored yet, in occurrence order:
    what event intake's :func:`~funnelbridge.ingest.intake.unseen` keeps, its in-chunk part done by
    :func:`prepare_event_columns`."""
    stored = lookup(conn, events.c.idempotency_key, events.c.idempotency_key, [r.key for r in rows])
    return [r for r in rows if r.key not in stored] if stored else rows


def _ids(row: _Row) -> list[str]:
    return [f"{kind}:{value}" for kind, value in (("anon", row.anon), ("email", row.email), ("ext", row.user))
            if value is not None]  # fmt: skip


def _split(rows: list[_Row]) -> tuple[list[_Row], list[_Row]]:
    """(simple rows, rows for event intake): see the module docstring."""
    special: set[str] = set()
    for row in rows:
        if (row.anon is not None) + (row.email is not None) + (row.user is not None) > 1 or row.type in _SPECIAL:
            special.update(_ids(row))
    if not special:
        return rows, []
    simple: list[_Row] = []
    other: list[_Row] = []
    for row in rows:
        (other if any(i in special for i in _ids(row)) else simple).append(row)
    return simple, other


def _resolve(conn: Connection, rows: list[_Row]) -> tuple[list[int], set[int], int]:
    """The contact of every simple row (created when new); the new people (with an email or external id); and
    how many contacts were created (people and visitors)."""
    by_email = ids_of(conn, contacts.c.email, contacts.c.id, [r.email for r in rows])
    by_ext = ids_of(conn, contacts.c.external_id, contacts.c.id, [r.user for r in rows])
    by_anon = ids_of(conn, identities.c.anonymous_id, identities.c.contact_id, [r.anon for r in rows])
    idents = [("email", r.email) if r.email is not None else ("external", r.user) if r.user is not None
              else ("anon", r.anon) for r in rows]  # fmt: skip
    tables = {"email": by_email, "external": by_ext, "anon": by_anon}
    new: dict[tuple[str, str], datetime] = {}
    for ident, row in zip(idents, rows, strict=True):
        if ident[1] not in tables[ident[0]] and ident not in new:
            new[ident] = row.at  # type: ignore[index]
    people = _create(conn, new, by_email, by_ext, by_anon)
    return [tables[kind][value] for kind, value in idents], people, len(new)  # type: ignore[index]


def _create(
    conn: Connection,
    new: dict[tuple[str, str], datetime],
    by_email: dict[str, int],
    by_ext: dict[str, int],
    by_anon: dict[str, int],
) -> set[int]:
    if not new:
        return set()
    rows = [{"email": value if kind == "email" else None, "external_id": value if kind == "external" else None,
             "created_at": at, "identified_at": None if kind == "anon" else at, "updated_at": at}
            for (kind, value), at in new.items()]  # fmt: skip
    ids = insert_contacts(conn, rows)
    links, people = [], set()
    for ((kind, value), at), contact_id in zip(new.items(), ids, strict=True):
        {"email": by_email, "external": by_ext, "anon": by_anon}[kind][value] = contact_id
        if kind == "anon":
            links.append({"anonymous_id": value, "contact_id": contact_id, "first_seen_at": at})
        else:
            people.add(contact_id)
    identity_repo.link_identities(conn, links)
    return people


def _observations(rows: Sequence[_Row], contact_ids: Sequence[int]) -> dict[int, ContactActivity]:
    """Per contact: earliest event, earliest identifying event, first and last touch (rows in time order)."""
    seen: dict[int, ContactActivity] = {}
    for row, cid in zip(rows, contact_ids, strict=True):
        act = seen.get(cid)
        if act is None:
            act = seen[cid] = ContactActivity(earliest=row.at)
        if act.identified is None and (row.email is not None or row.user is not None):
            act.identified = row.at
        if row.source or row.medium or row.campaign:
            act.see(row.at, Touch(row.at, row.source, row.medium, row.campaign), False)
    return seen


def _insert_events(conn: Connection, rows: Sequence[_Row], contact_ids: Sequence[int], now: datetime) -> int:
    """Insert the rows' events (in :data:`~funnelbridge.store.events.EVENT_COLUMNS` order); on SQLite with the
    times already formatted and the properties dumped here, the parameter tuples built column by column."""
    if conn.dialect.name != "sqlite":
        pairs = zip(rows, contact_ids, strict=True)
        return insert_event_tuples(conn, [(r.key, cid, r.anon, r.type, r.at, now, r.path, r.campaign, r.source,
                                           r.medium, r.props) for r, cid in pairs])  # fmt: skip
    if not rows:
        return 0
    key, anon, type_, stamp, path, campaign, source, medium, props = zip(*map(_INSERTED, rows), strict=True)
    dumps = json.dumps
    docs = repeat(None) if props.count(None) == len(props) else [None if p is None else dumps(p) for p in props]
    params = zip(key, contact_ids, anon, type_, stamp, repeat(sqlite_time(now)), path, campaign, source, medium,
                 docs)  # fmt: skip
    return insert_sqlite_event_params(conn, list(params))


_INSERTED = attrgetter("key", "anon", "type", "stamp", "path", "campaign", "source", "medium", "props")


def _store_simple(ctx: ImportContext, conn: Connection, rows: list[_Row], *, all_new: bool = False) -> set[int] | None:
    """Store simple rows; with ``all_new``, None as soon as some key turns out to be stored (the caller rolls
    back what was written)."""
    if not rows:
        return set()
    contact_ids, people, created = _resolve(conn, rows)
    inserted = _insert_events(conn, rows, contact_ids, ctx.now)
    if all_new and inserted < len(rows):
        return None
    ctx.summary.inserted += inserted
    ctx.summary.duplicates += len(rows) - inserted
    ctx.summary.contacts_created += created
    accounts = AccountCache()
    for contact_id in sorted(people):
        apply_traits(conn, accounts, contact_id, {}, ctx.now)
    seen = _observations(rows, contact_ids)
    seed_bounds(conn, ctx, sorted(cid for cid in seen if cid not in ctx.bounds.created))
    skip_settled(seen, ctx.identified)
    apply_activity(conn, seen, ctx.now, ctx.bounds)
    return set(seen)


def write_event_columns(
    ctx: ImportContext,
    conn: Connection,
    cols: Columns | EventChunk,
    *,
    before_intake: Callable[[Connection], None] | None = None,
    guess: Guess | None = None,
    deferral: Deferral | None = None,
) -> set[int]:
    """Store one converted chunk of event rows (or its :func:`prepare_event_columns`) in the caller's transaction;
    returns the contacts that got events. Refused rows go to the dead letters first. ``before_intake`` is called
    before rows go through event intake (which reads events by contact). ``guess``: see :class:`Guess`.

    A plain chunk on SQLite (:mod:`~funnelbridge.ingest.bulkplain`) gets its contacts' attribution at once, or,
    with a ``deferral``, owes it (:mod:`~funnelbridge.ingest.owed`); any other chunk that stores rows first
    settles what is owed (its lanes read stored attribution)."""
    chunk = cols if isinstance(cols, EventChunk) else prepare_event_columns(cols)
    for number, raw, problem in chunk.refused:
        ctx.reject(number, raw, [problem])
    plain = chunk.plan is not None and conn.dialect.name == "sqlite"
    if plain and guess is not None and guess.all_new:
        done = _store_all_new(ctx, conn, chunk, deferral)
        if done is not None:
            return done
        guess.all_new = False
    if plain:
        return _store_plain_fresh(ctx, conn, chunk, guess, deferral)
    fresh = _fresh(conn, chunk.rows)
    ctx.summary.duplicates += chunk.repeats + len(chunk.rows) - len(fresh)
    if guess is not None:
        guess.all_new = len(fresh) == len(chunk.rows)  # e.g. a resumed import past its stored chunks
    simple, other = _split(fresh) if chunk.special else (fresh, [])
    if simple or other:
        settle(conn, ctx.now, ctx.fold)
    touched = _store_simple(ctx, conn, simple) or set()
    if other:
        if before_intake is not None:
            before_intake(conn)
        result = store_activities(conn, [r.activity() for r in other], ctx.now, ctx.bounds)
        ctx.summary.inserted += result.inserted
        ctx.summary.duplicates += result.duplicates
        ctx.summary.contacts_created += result.created
        ctx.summary.merged += result.merged
        touched |= result.contact_ids
    return touched


def _store_plain_fresh(
    ctx: ImportContext, conn: Connection, chunk: EventChunk, guess: Guess | None, deferral: Deferral | None
) -> set[int]:
    """A plain chunk's rows whose keys are not stored yet, through the plain lane (grouped again when some are)."""
    assert chunk.plan is not None
    keys = chunk.columns[KEY]
    stored = lookup(conn, events.c.idempotency_key, events.c.idempotency_key, keys)
    keep = [i for i, key in enumerate(keys) if key not in stored]
    ctx.summary.duplicates += chunk.repeats + len(keys) - len(keep)
    if guess is not None:
        guess.all_new = not stored  # e.g. a resumed import past its stored chunks
    if not keep:
        return set()
    columns: Sequence[Sequence[Any]] = chunk.columns
    plan = chunk.plan
    if stored:
        columns = subset(columns, keep)
        plan = plan_plain(columns)
    return store_plain(ctx, conn, columns, plan, all_new=False, deferral=deferral) or set()


@dataclass
class Guess:
    """Whether an import's chunks are expected to hold only events not stored yet (a first import).

    While ``all_new`` holds, a chunk without rows for event intake is stored without looking its keys up first,
    under a savepoint: the events insert skips stored keys anyway, and when it inserted every row the chunk was
    all new and the result is exactly the looked-up path's. Otherwise the savepoint is rolled back, the chunk goes
    the looked-up way, and ``all_new`` stays off until a looked-up chunk finds none of its keys stored (a re-run
    pays its first chunk twice; a resumed import goes back to guessing past the chunks stored before)."""

    all_new: bool = True


def _store_all_new(
    ctx: ImportContext, conn: Connection, chunk: EventChunk, deferral: Deferral | None = None
) -> set[int] | None:
    assert chunk.plan is not None
    savepoint = conn.begin_nested()
    touched = store_plain(ctx, conn, chunk.columns, chunk.plan, all_new=True, deferral=deferral)
    if touched is None:
        savepoint.rollback()
        return None
    savepoint.commit()
    ctx.summary.duplicates += chunk.repeats
    return touched
