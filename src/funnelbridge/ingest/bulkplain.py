"""The plain lane of the set-wise events import (:mod:`funnelbridge.ingest.bulkevents`) on SQLite: a chunk whose
rows each name a person by exactly one identifier, with no unsubscribe or bounce, stored from its columns.

What needs no database is done where the chunk is parsed (the parsing process of
:mod:`funnelbridge.ingest.pipeline`): :func:`plan_plain` groups the rows by identifier — each group is one contact —
and folds each group's attribution (earliest event, earliest identifying event, first and last touch, as
:func:`~funnelbridge.ingest.bulkevents._observations` would from the same rows) into the parameters of the one-row
attribution ``UPDATE`` (:mod:`funnelbridge.ingest.attribution_sql`), times already SQLite text. The writer then
looks the identifiers up, creates the missing contacts, inserts the events straight from the columns and runs the
``UPDATE`` over every touched contact: its conditions keep whatever stored value is already better, so no stored
attribution is read first and no per-contact bounds are kept for the run (memory stays flat however many contacts
the file touches).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection

from funnelbridge.ingest.accounts import AccountCache
from funnelbridge.ingest.attribution_sql import Mark, write_marks_sqlite
from funnelbridge.ingest.bulkstore import ids_of, insert_contacts
from funnelbridge.ingest.context import ImportContext
from funnelbridge.ingest.traits import apply_traits
from funnelbridge.store import identities as identity_repo
from funnelbridge.store.bulk import sqlite_time
from funnelbridge.store.events import insert_sqlite_event_params
from funnelbridge.store.tables import contacts, identities

__all__ = ["Columns", "PlainPlan", "plan_plain", "store_plain"]

Columns = Sequence[Sequence[Any]]
"""A chunk's rows column by column, in the field order of :class:`~funnelbridge.ingest.bulkevents._Row`: key,
kind, type, at, anon, email, user, path, source, medium, campaign, props, stamp."""
KEY, KIND, TYPE, AT, ANON, EMAIL, USER, PATH, SOURCE, MEDIUM, CAMPAIGN, PROPS, STAMP = range(13)

_TABLES = {"email": (contacts.c.email, contacts.c.id), "external": (contacts.c.external_id, contacts.c.id),
           "anon": (identities.c.anonymous_id, identities.c.contact_id)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PlainPlan:
    """A plain chunk's rows grouped by identifier: ``groups`` the ``(kind, value)`` identifiers (kind ``email``,
    ``external`` or ``anon``) in order of first appearance, ``first`` the row of each group's first event,
    ``index`` each row's group and ``marks`` each group's attribution, with the rows of its first and last touch
    (for ties when two groups turn out to be one contact)."""

    groups: list[tuple[str, str]]
    first: list[int]
    index: list[int]
    marks: list[tuple[Mark, int, int]]


def plan_plain(columns: Columns) -> PlainPlan:
    """Group the rows (in occurrence order, each with exactly one identifier) by identifier and fold each
    group's attribution; no database. Column-wise: only the rows with a touch are visited one by one."""
    emails, users, anons = columns[EMAIL], columns[USER], columns[ANON]
    if None not in emails:
        idents = list(zip(repeat("email"), emails))
    else:
        idents = [("email", e) if e is not None else ("external", u) if u is not None else ("anon", a)
                  for e, u, a in zip(emails, users, anons, strict=True)]  # fmt: skip
    where = {ident: group for group, ident in enumerate(dict.fromkeys(idents))}
    index = list(map(where.__getitem__, idents))
    earliest = dict(zip(reversed(index), range(len(index) - 1, -1, -1), strict=True))  # a group's least row wins
    first = list(map(earliest.__getitem__, range(len(where))))
    heads, tails = _touches(columns, index)
    stamps, parts = columns[STAMP], (columns[SOURCE], columns[MEDIUM], columns[CAMPAIGN])
    marks: list[tuple[Mark, int, int]] = []
    for group, ((kind, _), row) in enumerate(zip(where, first, strict=True)):
        at = stamps[row]
        head, tail = heads.get(group, -1), tails.get(group, -1)
        mark = (at, None if kind == "anon" else at, *_touch(stamps, parts, head), *_touch(stamps, parts, tail))
        marks.append((mark, head, tail))  # type: ignore[arg-type]
    return PlainPlan(list(where), first, index, marks)


def _touches(columns: Columns, index: list[int]) -> tuple[dict[int, int], dict[int, int]]:
    """The row of each group's first touch (the least key) and last touch (the greatest), ties keeping the
    earlier row — as :meth:`~funnelbridge.ingest.attribution.ContactActivity.see` over rows in occurrence order."""
    stamps, sources, media, campaigns = columns[STAMP], columns[SOURCE], columns[MEDIUM], columns[CAMPAIGN]
    heads: dict[int, tuple[tuple[str, str, str, str], int]] = {}
    tails: dict[int, tuple[tuple[str, str, str, str], int]] = {}
    for row, (source, medium, campaign) in enumerate(zip(sources, media, campaigns, strict=True)):
        if not (source or medium or campaign):
            continue
        group, key = index[row], (stamps[row], source or "", medium or "", campaign or "")
        head, tail = heads.get(group), tails.get(group)
        if head is None or key < head[0]:
            heads[group] = (key, row)
        if tail is None or key > tail[0]:
            tails[group] = (key, row)
    return {g: r for g, (_, r) in heads.items()}, {g: r for g, (_, r) in tails.items()}


_NO_TOUCH = (None, None, None, None)


def _touch(stamps: Sequence[Any], parts: tuple[Sequence[Any], ...], row: int) -> tuple[Any, ...]:
    return _NO_TOUCH if row < 0 else (stamps[row], parts[0][row], parts[1][row], parts[2][row])


def store_plain(
    ctx: ImportContext, conn: Connection, columns: Columns, plan: PlainPlan, *, all_new: bool
) -> set[int] | None:
    """Store a plain chunk (SQLite); with ``all_new``, None as soon as some key turns out to be stored (the
    caller rolls back what was written). Returns the contacts that got events."""
    if not plan.index:
        return set()
    ids, people, created = _resolve(conn, columns, plan)
    inserted = _insert(conn, columns, list(map(ids.__getitem__, plan.index)), ctx.now)
    if all_new and inserted < len(plan.index):
        return None
    ctx.summary.inserted += inserted
    ctx.summary.duplicates += len(plan.index) - inserted
    ctx.summary.contacts_created += created
    accounts = AccountCache()
    for contact_id in sorted(people):
        apply_traits(conn, accounts, contact_id, {}, ctx.now)
    write_marks_sqlite(conn, _per_contact(ids, plan.marks), ctx.now)
    return set(ids)


def _resolve(conn: Connection, columns: Columns, plan: PlainPlan) -> tuple[list[int], list[int], int]:
    """Each group's contact (created when new, at the time of its first event); the new people (with an email or
    external id); how many contacts were created."""
    found: dict[str, dict[str, int]] = {}
    for kind, (key, column) in _TABLES.items():
        found[kind] = ids_of(conn, key, column, [v for k, v in plan.groups if k == kind])
    at = columns[AT]
    new = [(g, ident) for g, ident in enumerate(plan.groups) if ident[1] not in found[ident[0]]]
    rows = [{"email": value if kind == "email" else None, "external_id": value if kind == "external" else None,
             "created_at": at[plan.first[g]], "identified_at": None if kind == "anon" else at[plan.first[g]],
             "updated_at": at[plan.first[g]]} for g, (kind, value) in new]  # fmt: skip
    made = insert_contacts(conn, rows) if rows else []
    links, people = [], []
    for (g, (kind, value)), contact_id in zip(new, made, strict=True):
        found[kind][value] = contact_id
        if kind == "anon":
            links.append({"anonymous_id": value, "contact_id": contact_id, "first_seen_at": at[plan.first[g]]})
        else:
            people.append(contact_id)
    if links:
        identity_repo.link_identities(conn, links)
    return [found[kind][value] for kind, value in plan.groups], people, len(new)


def _insert(conn: Connection, columns: Columns, contact_ids: list[int], now: datetime) -> int:
    """The events, in :data:`~funnelbridge.store.events.EVENT_COLUMNS` order, straight from the columns."""
    props = columns[PROPS]
    dumps = json.dumps
    docs = repeat(None) if props.count(None) == len(props) else [None if p is None else dumps(p) for p in props]  # type: ignore[attr-defined]
    params = zip(columns[KEY], contact_ids, columns[ANON], columns[TYPE], columns[STAMP], repeat(sqlite_time(now)),
                 columns[PATH], columns[CAMPAIGN], columns[SOURCE], columns[MEDIUM], docs)  # fmt: skip
    return insert_sqlite_event_params(conn, list(params))


_ID = itemgetter(0)


def _per_contact(ids: list[int], marks: list[tuple[Mark, int, int]]) -> list[tuple[int, Mark]]:
    """Each touched contact's attribution: its group's, or the fold of its groups' when two identifiers of the
    chunk are one contact (a cookie and the email of the person it belongs to)."""
    if len(set(ids)) == len(ids):
        return [(cid, mark[0]) for cid, mark in zip(ids, marks, strict=True)]
    folded: dict[int, tuple[Mark, int, int]] = {}
    for cid, mark in zip(ids, marks, strict=True):
        was = folded.get(cid)
        folded[cid] = mark if was is None else _fold(was, mark)
    return [(cid, mark[0]) for cid, mark in folded.items()]


def _fold(a: tuple[Mark, int, int], b: tuple[Mark, int, int]) -> tuple[Mark, int, int]:
    """Two groups' attribution as one contact's: earliest times, the least first touch and the greatest last touch
    (ties: the earlier row)."""
    (ma, fa, la), (mb, fb, lb) = a, b
    created = min(ma[0], mb[0])
    identified = min((t for t in (ma[1], mb[1]) if t is not None), default=None)
    head, head_row = (ma[2:6], fa) if _better(ma[2:6], fa, mb[2:6], fb, least=True) else (mb[2:6], fb)
    tail, tail_row = (ma[6:10], la) if _better(ma[6:10], la, mb[6:10], lb, least=False) else (mb[6:10], lb)
    return (created, identified, *head, *tail), head_row, tail_row  # type: ignore[return-value]


def _better(a: Sequence[Any], row_a: int, b: Sequence[Any], row_b: int, *, least: bool) -> bool:
    """Whether touch ``a`` (at row ``row_a``) wins over ``b``: present, and the lesser (``least``) or greater key,
    the earlier row on a tie."""
    if a[0] is None or b[0] is None:
        return b[0] is None
    key_a, key_b = (a[0], *(v or "" for v in a[1:])), (b[0], *(v or "" for v in b[1:]))
    if key_a == key_b:
        return row_a < row_b
    return (key_a < key_b) == least
