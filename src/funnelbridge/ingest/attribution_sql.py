"""SQLite: a batch's attribution written with one UPDATE per changed contact (for
:func:`funnelbridge.ingest.attribution.apply_activity`).

The four groups — ``created_at``, ``identified_at``, the first touch and the last touch — are set by one statement,
each column under its own group's condition (so a stored value that is already earlier, or later, stays), exactly
as four separate updates would: every right-hand side sees the row as it was, ``updated_at`` is set when any group
changes and ``version`` grows by the number of groups that changed. The statement is compiled once and run with
``executemany`` over plain tuples (times as the column type stores them), which costs a fraction of four
``executemany`` runs over parameter dicts — at a million contacts this was the import's largest per-contact cost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

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


@cache
def _statement() -> str:
    """The UPDATE's SQLite text, its parameters numbered (``?1`` ... ``?12``, in :data:`_PARAMS` order): each is
    bound once per row, though the text uses most of them several times."""
    c = contacts.c
    p: dict[str, Any] = {name: bindparam(name) for name in _PARAMS}
    conds = {
        "created": _earlier(c.created_at, p["c_at"]),
        "identified": _earlier(c.identified_at, p["i_at"]) & (c.email.is_not(None) | c.external_id.is_not(None)),
        "first": _touch_better("first", p, newer=False),
        "last": _touch_better("last", p, newer=True),
    }
    values: dict[str, Any] = {
        "created_at": case((conds["created"], p["c_at"]), else_=c.created_at),
        "identified_at": case((conds["identified"], p["i_at"]), else_=c.identified_at),
    }
    for end in ("first", "last"):
        for part in ("touch_at", "source", "medium", "campaign"):
            given = p[f"{end[0]}_at"] if part == "touch_at" else p[f"{end[0]}_{part}"]
            values[f"{end}_{part}"] = case((conds[end], given), else_=c[f"{end}_{part}"])
    counted = [case((cond, literal_column("1")), else_=literal_column("0")) for cond in conds.values()]
    values["version"] = c.version + counted[0] + counted[1] + counted[2] + counted[3]
    values["updated_at"] = p["k_now"]
    stmt = (
        update(contacts)
        .where(c.id == p["k_id"], conds["created"] | conds["identified"] | conds["first"] | conds["last"])
        .values(values)
    )
    compiled = stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True})
    numbers = iter([f"?{_PARAMS.index(name) + 1}" for name in compiled.positiontup or ()])
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
    for contacts ``ids``, already in contact id order."""
    if ids:
        conn.exec_driver_sql(_statement(), list(zip(ids, *columns, repeat(sqlite_time(now)), strict=False)))
