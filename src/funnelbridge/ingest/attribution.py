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
from typing import Any

from sqlalchemy import Connection

from funnelbridge.domain.clock import as_utc
from funnelbridge.store import contacts as contact_repo

__all__ = ["ContactActivity", "Touch", "apply_activity", "touch_changes"]


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
        if self.earliest is None or at < self.earliest:
            self.earliest = at
        if identifying and (self.identified is None or at < self.identified):
            self.identified = at
        if touch is not None:
            if self.first is None or touch.key < self.first.key:
                self.first = touch
            if self.last is None or touch.key > self.last.key:
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


def apply_activity(conn: Connection, seen: Mapping[int, ContactActivity], now: datetime) -> int:
    """Write what a batch saw to its contacts (only changed columns); returns how many contacts changed."""
    rows = contact_repo.touch_rows(conn, seen)
    changes = {cid: touch_changes(rows[cid], act) for cid, act in seen.items() if cid in rows}
    changes = {cid: values for cid, values in changes.items() if values}
    contact_repo.update_contacts(conn, changes, now)
    return len(changes)
