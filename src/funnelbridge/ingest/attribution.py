"""Attribution: the first and the last marketing touch of every contact, stored on the contact.

A *touch* is an event (or an imported contact row) that carries a source, medium or campaign — from UTM
parameters (``utm_source``, ``utm_medium``, ``utm_campaign``) or the import's source columns. The first touch is
the earliest by occurrence time and the last touch the latest, whatever order the events arrive in, so
re-delivered or late events can only move the first touch earlier and the last touch later. Analytics splits every
stage by ``first_source`` / ``first_campaign`` (acquisition) or ``last_*``.

The same batch pass keeps ``created_at`` at the contact's earliest event and ``identified_at`` at its earliest
identifying event (out-of-order delivery).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, func, tuple_, update

from funnelbridge.domain.clock import as_utc
from funnelbridge.ingest.attribution_sql import activity_changes, write_activity_sqlite
from funnelbridge.store.bulk import execute_many
from funnelbridge.store.tables import contacts

__all__ = ["Bounds", "ContactActivity", "Touch", "apply_activity", "apply_activity_grouped", "touch_changes"]


@dataclass(frozen=True)
class Touch:
    at: datetime
    source: str | None
    medium: str | None
    campaign: str | None

    @property
    def key(self) -> tuple[datetime, str, str, str]:
        """Order of touches: by time, ties broken by the values (so any delivery order gives the same result)."""
        return (self.at, self.source or "", self.medium or "", self.campaign or "")

    @classmethod
    def of(cls, at: datetime, source: str | None, medium: str | None, campaign: str | None) -> Touch | None:
        """A touch, or None when nothing attributes it."""
        return cls(at, source, medium, campaign) if (source or medium or campaign) else None


@dataclass
class ContactActivity:
    """What a batch learned about one contact: earliest event, earliest identification, first and last touch."""

    earliest: datetime | None = None
    identified: datetime | None = None
    first: Touch | None = None
    last: Touch | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def see(self, at: datetime, touch: Touch | None, identifying: bool) -> None:
        earliest = self.earliest
        if earliest is None or at < earliest:
            self.earliest = at
        if identifying:
            identified = self.identified
            if identified is None or at < identified:
                self.identified = at
        if touch is not None:
            key, first, last = touch.key, self.first, self.last
            if first is None or key < first.key:
                self.first = touch
            if last is None or key > last.key:
                self.last = touch

    def absorb(self, other: ContactActivity) -> None:
        """Fold another contact's observations into this one (after a merge)."""
        if other.earliest is not None:
            self.see(other.earliest, None, False)
        if other.identified is not None:
            self.see(other.identified, None, True)
        for touch in (other.first, other.last):
            if touch is not None:
                self.see(touch.at, touch, False)


def _earlier(new: datetime | None, old: datetime | None) -> bool:
    return new is not None and (old is None or new < as_utc(old))


def touch_changes(row: Mapping[str, Any], seen: ContactActivity) -> dict[str, Any]:
    """The contact columns to change given what a batch saw (pure)."""
    changes: dict[str, Any] = {}
    if _earlier(seen.earliest, row["created_at"]):
        changes["created_at"] = seen.earliest
    known = row["email"] is not None or row["external_id"] is not None
    if known and _earlier(seen.identified, row["identified_at"]):
        changes["identified_at"] = seen.identified
    if seen.first is not None and (_stored(row, "first") is None or seen.first.key < _stored(row, "first")):  # type: ignore[operator]
        changes.update(_touch_columns("first", seen.first))
    if seen.last is not None and (_stored(row, "last") is None or seen.last.key > _stored(row, "last")):  # type: ignore[operator]
        changes.update(_touch_columns("last", seen.last))
    return changes


def _stored(row: Mapping[str, Any], end: str) -> tuple[datetime, str, str, str] | None:
    at = row[f"{end}_touch_at"]
    if at is None:
        return None
    return (as_utc(at), row[f"{end}_source"] or "", row[f"{end}_medium"] or "", row[f"{end}_campaign"] or "")


def _touch_columns(end: str, touch: Touch) -> dict[str, Any]:
    return {
        f"{end}_source": touch.source,
        f"{end}_medium": touch.medium,
        f"{end}_campaign": touch.campaign,
        f"{end}_touch_at": touch.at,
    }


_NOW: BindParameter[Any] = bindparam("k_now")  # every row of these updates carries the batch's ``now``


def _key(touch: Touch) -> dict[str, Any]:
    return {
        "t_at": touch.at,
        "t_source": touch.source or "",
        "t_medium": touch.medium or "",
        "t_campaign": touch.campaign or "",
    }


@cache  # one statement object per variant: store.bulk.execute_many then compiles it once
def _touch_update(end: str, newer: bool) -> Any:
    c = contacts.c
    stored = tuple_(
        c[f"{end}_touch_at"],
        func.coalesce(c[f"{end}_source"], ""),
        func.coalesce(c[f"{end}_medium"], ""),
        func.coalesce(c[f"{end}_campaign"], ""),
    )
    given = tuple_(bindparam("t_at"), bindparam("t_source"), bindparam("t_medium"), bindparam("t_campaign"))
    better = stored < given if newer else stored > given
    values: dict[str, Any] = {f"{end}_{part}": bindparam(f"v_{part}") for part in ("source", "medium", "campaign")}
    return (
        update(contacts)
        .where(c.id == bindparam("k_id"), c[f"{end}_touch_at"].is_(None) | better)
        .values({**values, f"{end}_touch_at": bindparam("t_at"), "updated_at": _NOW, "version": c.version + 1})
    )


@cache
def _time_update(column: str, known_only: bool = False) -> Any:
    c = contacts.c
    cond = c[column].is_(None) | (c[column] > bindparam("t_at"))
    if known_only:
        cond = cond & (c.email.is_not(None) | c.external_id.is_not(None))
    return (
        update(contacts)
        .where(c.id == bindparam("k_id"), cond)
        .values({column: bindparam("t_at"), "updated_at": _NOW, "version": c.version + 1})
    )


@dataclass
class Bounds:
    """What earlier batches of the same run already wrote: the stored ``created_at`` and first touch are at most,
    and the last touch at least, these values — so later batches skip contacts they cannot change."""

    created: dict[int, datetime] = field(default_factory=dict)
    first: dict[int, tuple[datetime, str, str, str]] = field(default_factory=dict)
    last: dict[int, tuple[datetime, str, str, str]] = field(default_factory=dict)


def _created_rows(acts: list[tuple[int, ContactActivity]], bounds: Bounds) -> list[dict[str, Any]]:
    rows = []
    for cid, act in acts:
        bound = bounds.created.get(cid)
        if act.earliest is not None and (bound is None or act.earliest < bound):
            bounds.created[cid] = act.earliest
            rows.append({"k_id": cid, "t_at": act.earliest})
    return rows


def _touch_rows(acts: list[tuple[int, ContactActivity]], end: str, bounds: Bounds) -> list[dict[str, Any]]:
    known = bounds.first if end == "first" else bounds.last
    rows = []
    for cid, act in acts:
        touch = act.first if end == "first" else act.last
        if touch is None:
            continue
        bound = known.get(cid)
        if bound is not None and (touch.key >= bound if end == "first" else touch.key <= bound):
            continue
        known[cid] = touch.key
        values = {"v_source": touch.source, "v_medium": touch.medium, "v_campaign": touch.campaign}
        rows.append({"k_id": cid, **_key(touch), **values})
    return rows


def apply_activity(
    conn: Connection, seen: Mapping[int, ContactActivity], now: datetime, bounds: Bounds | None = None
) -> None:
    """Write what a batch saw to its contacts, in SQL: each column changes only where the stored value is later
    (created_at, identified_at, first touch) or earlier (last touch) than what was seen — no read-back needed.
    ``bounds`` (kept across the batches of one run) skips contacts an earlier batch already settled.

    On SQLite each changed contact gets one UPDATE that sets all four groups at once (each under its own
    condition, exactly as the four separate updates would, ``version`` counting each group that changed), run as
    one ``executemany`` over plain tuples (:mod:`funnelbridge.ingest.attribution_sql`); elsewhere one
    ``executemany`` per group."""
    bounds = bounds if bounds is not None else Bounds()
    acts = sorted(seen.items())
    if conn.dialect.name == "sqlite":
        write_activity_sqlite(conn, activity_changes(acts, bounds), now)
    else:
        apply_activity_grouped(conn, acts, now, bounds)


def apply_activity_grouped(
    conn: Connection, acts: list[tuple[int, ContactActivity]], now: datetime, bounds: Bounds
) -> None:
    """:func:`apply_activity` as one ``executemany`` per group (any dialect; the reference of the SQLite one)."""
    identified = [{"k_id": cid, "t_at": a.identified} for cid, a in acts if a.identified is not None]
    execute_many(conn, _time_update("created_at"), _at(now, _created_rows(acts, bounds)))
    execute_many(conn, _time_update("identified_at", known_only=True), _at(now, identified))
    for end, newer in (("first", False), ("last", True)):
        execute_many(conn, _touch_update(end, newer), _at(now, _touch_rows(acts, end, bounds)))


def _at(now: datetime, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["k_now"] = now
    return rows
