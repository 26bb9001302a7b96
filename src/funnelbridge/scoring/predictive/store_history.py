"""The store's history of every lead, read in a few bulk queries, so facts can be rebuilt at any past moment.

A *lead* here is a contact that was identified (``identified_at`` set, at or before ``as_of``) and not merged
away. For each lead :func:`load_history` reads its contact row, its account row, its events up to ``as_of``
(oldest first) and the first time it entered each stage of the main pipeline up to ``as_of`` — counting stages
it skipped on the way as entered at that move (the any-stage rule of the counting rules).

:meth:`LeadHistory.facts_at` rebuilds the lead's :class:`~funnelbridge.rules.facts.LeadFacts` at a past moment:
events after that moment are not facts yet. Contact and account attributes are the values stored *now* — the
store keeps no history of them — which is a known leakage risk for anything learned from them (see
docs/predictive-scoring.md); :attr:`LeadHistory.updated_at` lets callers count the leads concerned.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, select

from funnelbridge.domain.clock import as_utc
from funnelbridge.rules.facts import BANT_KEYS, EventFact, LeadFacts
from funnelbridge.store.tables import accounts, contacts, events, transitions

__all__ = ["History", "LeadHistory", "load_history"]

_CHUNK = 500


@dataclass(frozen=True)
class LeadHistory:
    """One lead's stored history up to the history's ``as_of``."""

    contact_id: int
    contact: Mapping[str, Any]
    account: Mapping[str, Any] | None
    events: tuple[EventFact, ...]
    entries: Mapping[str, datetime] = field(default_factory=dict)  # stage → first entry (skips count)

    @property
    def identified_at(self) -> datetime:
        return as_utc(self.contact["identified_at"])

    @property
    def updated_at(self) -> datetime | None:
        """When the contact or its account row last changed (the later of the two)."""
        stamps = [as_utc(r["updated_at"]) for r in (self.contact, self.account) if r and r.get("updated_at")]
        return max(stamps) if stamps else None

    @cached_property
    def event_times(self) -> tuple[datetime, ...]:
        return tuple(e.occurred_at for e in self.events)

    def events_until(self, at: datetime) -> tuple[EventFact, ...]:
        """Events that occurred at or before ``at``."""
        return self.events[: bisect.bisect_right(self.event_times, at)]

    def facts_at(self, at: datetime, score: Mapping[str, Any] | None = None) -> LeadFacts:
        """The lead's facts at ``at`` (with ``score`` as its score, if given)."""
        bant = {key: self.contact.get(f"bant_{key}") for key in BANT_KEYS}
        return LeadFacts(self.contact, self.account, score, bant, self.events_until(at), at)


@dataclass(frozen=True)
class History:
    """Every lead's history as of ``as_of`` in ``pipeline``."""

    as_of: datetime
    pipeline: str
    leads: tuple[LeadHistory, ...]

    @property
    def last_activity(self) -> datetime:
        """The latest recorded moment (event, stage move or identification) up to ``as_of``; ``as_of`` if none.

        Outcomes can only have been recorded up to here: a store that stopped receiving data (an export, the demo)
        must not be read as one where nothing happened since.
        """
        stamps = [lead.identified_at for lead in self.leads]
        stamps += [lead.events[-1].occurred_at for lead in self.leads if lead.events]
        stamps += [max(lead.entries.values()) for lead in self.leads if lead.entries]
        return min(max(stamps), self.as_of) if stamps else self.as_of


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return as_utc(value)
    return value


def _row(row: Any) -> dict[str, Any]:
    return {key: _plain(value) for key, value in row._mapping.items()}


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def _contacts(conn: Connection, as_of: datetime, only: Sequence[int] | None) -> list[dict[str, Any]]:
    c = contacts.c
    query = select(contacts).where(c.merged_into.is_(None), c.identified_at.is_not(None), c.identified_at <= as_of)
    if only is not None:
        rows = [r for ids in _chunks(only) for r in conn.execute(query.where(c.id.in_(ids)))]
    else:
        rows = list(conn.execute(query))
    return sorted((_row(r) for r in rows), key=lambda r: int(r["id"]))


def _accounts(conn: Connection, ids: set[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(sorted(ids)):
        for r in conn.execute(select(accounts).where(accounts.c.id.in_(chunk))):
            out[int(r.id)] = _row(r)
    return out


def _events(conn: Connection, ids: Sequence[int], as_of: datetime) -> dict[int, list[EventFact]]:
    c = events.c
    out: dict[int, list[EventFact]] = defaultdict(list)
    cols = (c.contact_id, c.type, c.occurred_at, c.path, c.campaign, c.source, c.medium, c.properties)
    for chunk in _chunks(ids):
        query = select(*cols).where(c.contact_id.in_(chunk), c.occurred_at <= as_of).order_by(c.occurred_at, c.id)
        for r in conn.execute(query):
            fact = EventFact(r.type, as_utc(r.occurred_at), r.path, r.campaign, r.source, r.medium, r.properties or {})
            out[int(r.contact_id)].append(fact)
    return out


def _entries(conn: Connection, ids: Sequence[int], pipeline: str, as_of: datetime) -> dict[int, dict[str, datetime]]:
    c = transitions.c
    out: dict[int, dict[str, datetime]] = defaultdict(dict)
    for chunk in _chunks(ids):
        query = select(c.contact_id, c.to_stage, c.skipped, c.at).where(
            c.contact_id.in_(chunk), c.pipeline == pipeline, c.at <= as_of
        )
        for r in conn.execute(query):
            at, seen = as_utc(r.at), out[int(r.contact_id)]
            for stage in (r.to_stage, *(r.skipped or ())):
                if stage not in seen or at < seen[stage]:
                    seen[stage] = at
    return out


def load_history(conn: Connection, as_of: datetime, pipeline: str, contact_ids: Sequence[int] | None = None) -> History:
    """Every identified, unmerged lead's history as of ``as_of`` (or only those of ``contact_ids``)."""
    as_of = as_utc(as_of)
    rows = _contacts(conn, as_of, contact_ids)
    ids = [int(r["id"]) for r in rows]
    accs = _accounts(conn, {int(r["account_id"]) for r in rows if r.get("account_id") is not None})
    evs = _events(conn, ids, as_of)
    entries = _entries(conn, ids, pipeline, as_of)
    leads = tuple(
        LeadHistory(
            cid,
            row,
            accs.get(row["account_id"]) if row.get("account_id") is not None else None,
            tuple(evs.get(cid, ())),
            entries.get(cid, {}),
        )
        for cid, row in zip(ids, rows, strict=True)
    )
    return History(as_of, pipeline, leads)
