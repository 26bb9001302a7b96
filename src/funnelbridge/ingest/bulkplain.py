"""The plain lane of the set-wise events import (:mod:`funnelbridge.ingest.bulkevents`) on SQLite: a chunk whose
rows each name a person by exactly one identifier, with no unsubscribe or bounce, stored from its columns.

What needs no database is done where the chunk is parsed (the parsing process of
:mod:`funnelbridge.ingest.pipeline`): :func:`plan_plain` groups the rows by identifier — each group is one contact.
The writer then looks the identifiers up, creates the missing contacts and inserts the events straight from the
columns. The contacts' attribution (earliest event, earliest identifying event, first and last touch) is computed
from the stored events, set-based (:mod:`funnelbridge.ingest.owed`): for the chunk alone, or — an import's
``deferral`` — once for the whole stretch of plain chunks, at its end, from the import's in-memory fold of what
its chunks stored (:mod:`funnelbridge.ingest.ownfold`: a few int64 per contact) or, when the fold cannot prove it
covers what is owed, from a scan of the stored events. No stored attribution is read first.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress, repeat
from operator import is_, itemgetter
from typing import Any

import numpy as np
from sqlalchemy import Connection

from funnelbridge.ingest.accounts import AccountCache
from funnelbridge.ingest.bulkstore import create_contacts, ids_of
from funnelbridge.ingest.context import ImportContext
from funnelbridge.ingest.idcache import KINDS, IdCache, Ids
from funnelbridge.ingest.owed import Deferral, next_event_id, owe, settle_from
from funnelbridge.ingest.ownfold import Touches
from funnelbridge.ingest.staging import insert_staged, staged_subset
from funnelbridge.ingest.traits import apply_traits
from funnelbridge.store.bulk import sqlite_time
from funnelbridge.store.events import insert_sqlite_event_params
from funnelbridge.store.tables import contacts, identities

__all__ = ["Columns", "PlainPlan", "plan_plain", "store_plain", "subset"]

Columns = Sequence[Sequence[Any]]
"""A chunk's rows column by column, in the field order of :class:`~funnelbridge.ingest.bulkevents._Row`: key,
kind, type, at, anon, email, user, path, source, medium, campaign, props, stamp."""
KEY, KIND, TYPE, AT, ANON, EMAIL, USER, PATH, SOURCE, MEDIUM, CAMPAIGN, PROPS, STAMP = range(13)

_TABLES = {"email": (contacts.c.email, contacts.c.id), "external": (contacts.c.external_id, contacts.c.id),
           "anon": (identities.c.anonymous_id, identities.c.contact_id)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PlainPlan:
    """A plain chunk's rows grouped by identifier: ``groups`` the ``(kind, value)`` identifiers (kind ``email``,
    ``external`` or ``anon``) in order of first appearance, ``first`` the row of each group's first event and
    ``index`` each row's group; what the parsing process worked out across the import's chunks, when it did."""

    groups: list[tuple[str, str]]
    first: list[int]
    index: list[int]
    gids: array[int] | None = field(default=None, compare=False)
    """The groups' identifier numbers within the import, or None (:mod:`~funnelbridge.ingest.foresight`)."""
    repeated: array[int] | None = field(default=None, compare=False)
    """The rows whose key's hash an earlier row of the import had, or None (:mod:`~funnelbridge.ingest.foresight`)."""
    touches: Touches | None = field(default=None, compare=False)
    """The rows' (source, medium, campaign) coded, or None (:mod:`~funnelbridge.ingest.foresight`)."""

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled compactly (the parsing process's pipe, without the pickle memo): the groups' kinds as one byte
        each and their values as a list, ``first`` and ``index`` as int64 buffers — not a tuple and a kind text
        a group (the groups alone took the writer 0.24 CPU-µs an event to load; the whole plan now 0.18)."""
        kinds = bytes(map(_KIND_CODES.__getitem__, map(itemgetter(0), self.groups)))
        values = list(map(itemgetter(1), self.groups))
        first, index = array("q", self.first).tobytes(), array("q", self.index).tobytes()
        return _plain_plan, (kinds, values, first, index, self.gids, self.repeated, self.touches)


_KIND_NAMES = KINDS
_KIND_CODES = {kind: code for code, kind in enumerate(_KIND_NAMES)}


def _plain_plan(kinds: bytes, values: list[str], first: bytes, index: bytes, *rest: Any) -> PlainPlan:
    groups = list(zip(map(_KIND_NAMES.__getitem__, kinds), values, strict=True))
    return PlainPlan(groups, _ints(first), _ints(index), *rest)


def _ints(data: bytes) -> list[int]:
    held = array("q")
    held.frombytes(data)
    return held.tolist()


def plan_plain(columns: Columns) -> PlainPlan:
    """Group the rows (in occurrence order, each with exactly one identifier) by identifier; no database.

    Built with few passes over the rows: an email is its own dictionary key (only the rows without one get a
    ``(kind, value)`` tuple, which no text equals), groups are numbered by one ``setdefault`` a row (the texts are
    new to the process: the first hashing and the table's cache misses are what costs, so fewer table operations
    win over C-level maps) and each group's first row is where the running greatest group number grows (numpy):
    1.02 against 1.83 µs an event with a tuple per row and a dictionary of least rows (ten 50,000-event chunks of
    the bench file, 5% anonymous, fresh texts, five rounds alternating, load 8.7-11.6 on 2 CPUs)."""
    emails = columns[EMAIL]
    odd = list(compress(range(len(emails)), map(is_, emails, repeat(None))))
    idents: list[Any] = list(emails)
    users, anons = columns[USER], columns[ANON]
    for row in odd:
        user = users[row]
        idents[row] = ("external", user) if user is not None else ("anon", anons[row])
    where: dict[Any, int] = {}
    number = where.setdefault
    index = [number(ident, len(where)) for ident in idents]  # a new identifier: the next group
    groups = list(zip(repeat("email"), where))
    for row in odd:
        groups[index[row]] = idents[row]
    return PlainPlan(groups, _firsts(index), index)


def _firsts(index: list[int]) -> list[int]:
    """The first row of each group, groups numbered in order of first appearance (so it is the least)."""
    import numpy as np

    if not index:
        return []
    top = np.maximum.accumulate(np.array(index))
    return np.flatnonzero(np.concatenate(([True], top[1:] != top[:-1]))).tolist()  # type: ignore[no-any-return]


def subset(columns: Columns, keep: Sequence[int]) -> list[list[Any]]:
    """The rows ``keep`` (in that order) of a chunk's columns (still staged when they were:
    :func:`~funnelbridge.ingest.staging.staged_subset`)."""
    return staged_subset(columns, keep, [list(map(column.__getitem__, keep)) for column in columns])


def store_plain(
    ctx: ImportContext,
    conn: Connection,
    columns: Columns,
    plan: PlainPlan,
    *,
    all_new: bool,
    deferral: Deferral | None = None,
) -> set[int] | None:
    """Store a plain chunk (SQLite); with ``all_new``, None as soon as some key turns out to be stored (the
    caller rolls back what was written). Returns the contacts that got events. The contacts' attribution is
    applied from the stored events (:func:`~funnelbridge.ingest.owed.settle_from`) before returning, or, with a
    ``deferral``, owed (:func:`~funnelbridge.ingest.owed.owe`) until the stretch is settled, and folded into
    ``ctx.fold``."""
    if not plan.index:
        return set()
    ids, people, created = _resolve(conn, columns, plan, ctx.ids)
    start = next_event_id(conn)
    contact_ids = ids[np.asarray(plan.index, dtype=np.intp)]
    inserted = _insert(conn, columns, contact_ids, ctx.now)
    if all_new and inserted < len(plan.index):
        return None
    ctx.summary.inserted += inserted
    ctx.summary.duplicates += len(plan.index) - inserted
    ctx.summary.contacts_created += created
    accounts = AccountCache()
    for contact_id in sorted(people):
        apply_traits(conn, accounts, contact_id, {}, ctx.now)
    if deferral is not None:
        owe(conn, start, deferral)
        ctx.fold.add(conn, start, inserted, columns, contact_ids, plan.touches)
    else:
        settle_from(conn, start, ctx.now)
    ctx.ids.seal(conn)
    return set(ids.tolist())


def _resolve(conn: Connection, columns: Columns, plan: PlainPlan, cache: IdCache) -> tuple[Ids, list[int], int]:
    """Each group's contact (created when new, at the time of its first event); the new people (with an email or
    external id); how many contacts were created. Identifiers the import's :class:`IdCache` holds are not looked
    up (after :meth:`IdCache.check`); what is looked up or created is added to it — by the groups' numbers when the
    plan has them (one numpy gather for the hits), else by identifier."""
    cache.check(conn)
    kinds, values = zip(*plan.groups, strict=True)
    if plan.gids is not None:
        numbers = np.frombuffer(plan.gids, dtype=np.int64)
        ids = cache.numbered(numbers)
        missing = np.flatnonzero(ids < 0).tolist()  # ascending: in order of first appearance
        known: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
    else:
        known = cache.known
        ids = np.fromiter(map(dict.get, map(known.__getitem__, kinds), values, repeat(-1)), np.int64, len(kinds))
        missing = np.flatnonzero(ids < 0).tolist()
    cache.hits += len(ids) - len(missing)
    if not missing:
        return ids, [], 0
    for kind, (key, column) in _TABLES.items():
        wanted = [values[g] for g in missing if kinds[g] == kind]
        if wanted:
            known[kind].update(ids_of(conn, key, column, wanted))
    new = [g for g in missing if values[g] not in known[kinds[g]]]
    people = _create(conn, columns, plan, new, known) if new else []
    found = np.fromiter(map(dict.__getitem__, map(known.__getitem__, map(kinds.__getitem__, missing)),
                            map(values.__getitem__, missing)), np.int64, len(missing))  # fmt: skip
    ids[missing] = found
    if plan.gids is not None:
        cache.learn(numbers[missing], found)
    return ids, people, len(new)


def _create(
    conn: Connection, columns: Columns, plan: PlainPlan, new: list[int], known: dict[str, dict[str, int]]
) -> list[int]:
    """Create the contacts of groups ``new`` (at their first event's time, as the chunk's stored text ``STAMP``;
    identities linked for anonymous ids: :func:`~funnelbridge.ingest.bulkstore.create_contacts`); the new
    people's ids. No dict or ``datetime`` per contact: 17.4 → 7.6 CPU-µs a new anonymous contact."""
    kinds, values = zip(*map(plan.groups.__getitem__, new), strict=True)
    made = create_contacts(conn, kinds, values, list(map(columns[STAMP].__getitem__, map(plan.first.__getitem__, new))))
    for kind in set(kinds):
        known[kind].update(compress(zip(values, made, strict=True), map(kind.__eq__, kinds)))
    return list(compress(made, map("anon".__ne__, kinds)))


def _insert(conn: Connection, columns: Columns, ids: Ids, now: datetime) -> int:
    """The events, in :data:`~funnelbridge.store.events.EVENT_COLUMNS` order: copied from the chunk's staging file
    when the parsing process wrote one (:mod:`~funnelbridge.ingest.staging`), else straight from the columns."""
    contact_ids: list[int] = ids.tolist()
    staged = insert_staged(conn, columns, contact_ids, sqlite_time(now))
    if staged is not None:
        return staged
    props = columns[PROPS]
    dumps = json.dumps
    docs = repeat(None) if props.count(None) == len(props) else [None if p is None else dumps(p) for p in props]  # type: ignore[attr-defined]
    params = zip(columns[KEY], contact_ids, columns[ANON], columns[TYPE], columns[STAMP], repeat(sqlite_time(now)),
                 columns[PATH], columns[CAMPAIGN], columns[SOURCE], columns[MEDIUM], docs)  # fmt: skip
    return insert_sqlite_event_params(conn, list(params))
