"""SQLite: a batch's attribution written with one UPDATE per changed contact (for
:func:`funnelbridge.ingest.attribution.apply_activity`).

The four groups — ``created_at``, ``identified_at``, the first touch and the last touch — are set by one statement,
each column under its own group's condition (so a stored value that is already earlier, or later, stays), exactly
as four separate updates would: every right-hand side sees the row as it was, ``updated_at`` is set when any group
changes and ``version`` grows by the number of groups that changed. The statement is compiled once and run with
``executemany`` over plain tuples (times as the column type stores them), which costs a fraction of four
``executemany`` runs over parameter dicts — at a million contacts this was the import's largest per-contact cost.

The settle's marks (:func:`write_mark_columns`, ~1.16M contacts after 4M events into 1M) go by parts: a group whose
time is None has a false condition, so the statement of the other groups alone leaves the same row; and where the
fold gives the identifying time as the very object of the earliest, or the last touch's four values as the first's,
those are bound once. SQLite's side measured on that store: binding ~0.16 us a value (10 extra values 1.85 s in
all), a one-column row rewrite ~1.9 us, the seek ~0.5 us; the full statement 5.8 s. Bound values per contact fall
from 12 to ~6.5 (36% of marks carry no touch or no identifying time; 84% identify at their earliest; 36% have one
touch), the conditions with them: 6.37 -> 5.58 CPU s median (0.88x; pairs 0.96/0.75/0.91/0.83; fresh processes
alternating, load 6.2-6.6 on 2 CPUs), 0.84x in one process over 4 rounds; same contacts digest. Reading the stored
columns and deciding in Python, then unconditional updates of only the changed groups, was slower: the reads alone
1.8-2.5 s (6.0 through SQLAlchemy rows), the decisions 2.2, the updates 3.8 (12.5 s in all vs 5.6). Rendering
``updated_at`` as a literal and leaving out the "parameter is not None" checks of a part showed nothing above noise.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from datetime import datetime
from functools import cache, reduce
from itertools import compress, repeat
from operator import is_, is_not, itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Connection, bindparam, case, func, literal_column, tuple_, update
from sqlalchemy.dialects import sqlite

from funnelbridge.store.bulk import sqlite_time
from funnelbridge.store.tables import contacts

if TYPE_CHECKING:
    from funnelbridge.ingest.attribution import Bounds, ContactActivity, Touch

__all__ = ["Change", "Mark", "activity_changes", "write_activity_sqlite", "write_mark_columns", "write_marks_sqlite"]

Change = tuple[int, "datetime | None", "datetime | None", "Touch | None", "Touch | None"]
"""``(contact id, earlier created_at, identified_at, better first touch, later last touch)``; None: no change."""
Mark = tuple[
    str, "str | None", "str | None", "str | None", "str | None", "str | None", "str | None", "str | None",
    "str | None", "str | None",
]  # fmt: skip
"""What a batch saw of one contact, as the UPDATE's parameters ``c_at`` ... ``l_campaign`` (times as SQLite text,
:func:`~funnelbridge.store.bulk.sqlite_time`): earliest event, earliest identifying event (None: none), first
touch and last touch (time, source, medium, campaign; all None: no touch)."""

_PARAMS = ("k_id", "c_at", "i_at", "f_at", "f_source", "f_medium", "f_campaign", "l_at", "l_source", "l_medium",
           "l_campaign", "k_now")  # fmt: skip


def activity_changes(acts: Sequence[tuple[int, ContactActivity]], bounds: Bounds) -> list[Change]:
    """What each contact may change, given what earlier batches of the run wrote (``bounds``, updated here);
    contacts with nothing to change are left out."""
    created, first, last = bounds.created, bounds.first, bounds.last
    out: list[Change] = []
    for cid, act in acts:
        at = act.earliest
        if at is not None:
            bound = created.get(cid)
            if bound is None or at < bound:
                created[cid] = at
            else:
                at = None
        head, tail = act.first, act.last
        if head is not None:
            key, was = head.key, first.get(cid)
            if was is None or key < was:
                first[cid] = key
            else:
                head = None
        if tail is not None:
            key, was = tail.key, last.get(cid)
            if was is None or key > was:
                last[cid] = key
            else:
                tail = None
        if at is not None or act.identified is not None or head is not None or tail is not None:
            out.append((cid, at, act.identified, head, tail))
    return out


_FIRST = itemgetter(0)
_EMPTY: ColumnElement[Any] = literal_column("''")  # constants in the text, so every ``?`` is one of _PARAMS


def _earlier(column: ColumnElement[Any], param: ColumnElement[Any]) -> ColumnElement[bool]:
    return param.is_not(None) & (column.is_(None) | (column > param))


def _touch_better(end: str, p: dict[str, Any], newer: bool) -> ColumnElement[bool]:
    c = contacts.c
    parts = ("source", "medium", "campaign")
    stored = tuple_(c[f"{end}_touch_at"], *(func.coalesce(c[f"{end}_{n}"], _EMPTY) for n in parts))
    given = tuple_(p[f"{end[0]}_at"], *(func.coalesce(p[f"{end[0]}_{n}"], _EMPTY) for n in parts))
    better = stored < given if newer else stored > given
    at: ColumnElement[Any] = p[f"{end[0]}_at"]
    return at.is_not(None) & (c[f"{end}_touch_at"].is_(None) | better)


_GROUPS = ("created", "identified", "first", "last")
_GROUP_TIMES = (0, 1, 2, 6)  # a group's time in a Mark
_GROUP_PARAMS = {"created": _PARAMS[1:2], "identified": _PARAMS[2:3], "first": _PARAMS[3:7], "last": _PARAMS[7:11]}
_SHARES = {"identified": {"i_at": "c_at"}, "last": dict(zip(_PARAMS[7:11], _PARAMS[3:7], strict=True))}


def _condition(group: str, p: dict[str, Any]) -> ColumnElement[bool]:
    c = contacts.c
    if group == "created":
        return _earlier(c.created_at, p["c_at"])
    if group == "identified":
        return _earlier(c.identified_at, p["i_at"]) & (c.email.is_not(None) | c.external_id.is_not(None))
    return _touch_better(group, p, newer=group == "last")


def _group_values(group: str, cond: ColumnElement[bool], p: dict[str, Any]) -> dict[str, Any]:
    c = contacts.c
    if group in ("created", "identified"):
        column = f"{group}_at"
        return {column: case((cond, p[_GROUP_PARAMS[group][0]]), else_=c[column])}
    given = dict(zip(("touch_at", "source", "medium", "campaign"), _GROUP_PARAMS[group], strict=True))
    return {f"{group}_{part}": case((cond, p[name]), else_=c[f"{group}_{part}"]) for part, name in given.items()}


@cache
def _statement(groups: tuple[str, ...] = _GROUPS, shared: tuple[str, ...] = ()) -> str:
    """The UPDATE's SQLite text for the ``groups`` whose parameters are given (all four: the reference), its
    parameters numbered in :data:`_PARAMS` order (``k_id``, the groups' own, ``k_now``: ``?1`` ... ``?12`` for
    all four): each is bound once per row, though the text uses most of them several times. A group left out is
    one whose parameters are all None: its condition is false, so its columns keep their values, ``version`` does
    not count it and it cannot make the row change — the same row as the full statement leaves, with fewer values
    bound and fewer conditions evaluated. A ``shared`` group ("identified", "last") takes the values of the
    group before it ("created", "first"), bound once, for rows whose values for both are the same."""
    alias = {name: to for group in shared for name, to in _SHARES[group].items()}
    given = [name for group in groups for name in _GROUP_PARAMS[group]]
    names = ("k_id", *(name for name in given if name not in alias), "k_now")
    p: dict[str, Any] = {name: bindparam(alias.get(name, name)) for name in ("k_id", *given, "k_now")}
    conds = {group: _condition(group, p) for group in groups}
    values: dict[str, Any] = {}
    for group, cond in conds.items():
        values.update(_group_values(group, cond, p))
    counted = [case((cond, literal_column("1")), else_=literal_column("0")) for cond in conds.values()]
    values["version"] = reduce(operator.add, counted, contacts.c.version)
    values["updated_at"] = p["k_now"]
    stmt = update(contacts).where(contacts.c.id == p["k_id"], reduce(operator.or_, conds.values())).values(values)
    compiled = stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True})
    numbers = iter([f"?{names.index(name) + 1}" for name in compiled.positiontup or ()])
    return re.sub(r"\?", lambda _: next(numbers), compiled.string)  # no "?" in the text but the parameters


def _touch_values(touch: Touch | None) -> tuple[str | None, str | None, str | None, str | None]:
    if touch is None:
        return None, None, None, None
    return sqlite_time(touch.at), touch.source, touch.medium, touch.campaign


def write_activity_sqlite(conn: Connection, changes: Sequence[Change], now: datetime) -> None:
    """Run the one-statement update over ``changes`` (SQLite only), in contact id order: the rows are visited
    along the table instead of at random (a chunk at a million contacts changes tens of thousands spread over it)."""
    if not changes:
        return
    stamp, stamp_now = sqlite_time, sqlite_time(now)
    params = [
        (cid, None if at is None else stamp(at), None if ident is None else stamp(ident), *_touch_values(head),
         *_touch_values(tail), stamp_now)
        for cid, at, ident, head, tail in sorted(changes, key=_FIRST)
    ]  # fmt: skip
    conn.exec_driver_sql(_statement(), params)


def write_marks_sqlite(conn: Connection, marks: Sequence[tuple[int, Mark]], now: datetime) -> None:
    """Run the one-statement update over every contact a batch saw (SQLite only), in contact id order, without
    bounds: each group's condition leaves a stored value that is already better as it is, so a contact with
    nothing to change is visited and not written (``version`` and ``updated_at`` unchanged)."""
    if not marks:
        return
    stamp_now = sqlite_time(now)
    conn.exec_driver_sql(_statement(), [(cid, *mark, stamp_now) for cid, mark in sorted(marks, key=_FIRST)])


def write_mark_columns(conn: Connection, ids: Sequence[int], columns: Sequence[Sequence[Any]], now: datetime) -> None:
    """:func:`write_marks_sqlite` over marks given column by column (``columns``: the ten :data:`Mark` parameters)
    for contacts ``ids``, already in contact id order: the contacts split by which groups their marks give (a
    group's time None: nothing to compare) and which share values, each part by its own statement
    (:func:`_statement`)."""
    if not ids:
        return
    codes = _plan_codes(columns)
    order = np.argsort(codes, kind="stable")  # each part keeps the contact id order
    stamp = sqlite_time(now)
    for part in np.split(order, np.flatnonzero(np.diff(codes[order])) + 1):
        code = int(codes[part[0]])
        groups = tuple(compress(_GROUPS, (code >> bit & 1 for bit in range(4))))
        if not groups:
            continue  # nothing to compare: the full statement would not change the row
        shared = tuple(compress(("identified", "last"), (code >> 4 & 1, code >> 5 & 1)))
        rows = part.tolist()
        alias = {name for group in shared for name in _SHARES[group]}
        needed = [_PARAMS.index(n) - 1 for g in groups for n in _GROUP_PARAMS[g] if n not in alias]
        params = zip(_take(ids, rows), *(_take(columns[at], rows) for at in needed), repeat(stamp))
        conn.exec_driver_sql(_statement(groups, shared), list(params))


def _plan_codes(columns: Sequence[Sequence[Any]]) -> npt.NDArray[np.int64]:
    """Per mark: bits 0-3 the groups it gives (:data:`_GROUPS` order), bit 4 its identifying time the very object
    of its earliest, bit 5 its last touch's four values the very objects of its first (the fold gives equal
    values as one object; identity, not equality, so that what is bound once is what each would have bound)."""
    count = len(columns[0])

    def flags(pairs: Any) -> npt.NDArray[np.bool_]:
        return np.fromiter(pairs, bool, count)

    given = [flags(map(is_not, columns[at], repeat(None))) for at in _GROUP_TIMES]
    same_ident = flags(map(is_, columns[0], columns[1])) & given[1]
    same_touch = given[2] & given[3]
    for at in range(2, 6):
        same_touch &= flags(map(is_, columns[at], columns[at + 4]))
    codes = np.zeros(count, np.int64)
    for bit, flag in enumerate((*given, same_ident, same_touch)):
        codes |= flag.astype(np.int64) << bit
    return codes


def _take(values: Sequence[Any], rows: list[int]) -> Sequence[Any]:
    return itemgetter(*rows)(values) if len(rows) > 1 else (values[rows[0]],)
