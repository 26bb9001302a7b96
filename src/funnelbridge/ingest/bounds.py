"""The row-wise events lane's attribution bounds (:mod:`funnelbridge.ingest.bulkevents`): what earlier chunks of
an import wrote, seeded from the store for contacts first met in a chunk, so the attribution update skips contacts
it cannot change."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection

from funnelbridge.domain.clock import as_utc
from funnelbridge.ingest.attribution import ContactActivity
from funnelbridge.ingest.bulkstore import stored_attribution
from funnelbridge.ingest.context import ImportContext
from funnelbridge.store.bulk import LOOKUP_BATCH, batched

__all__ = ["seed_bounds", "skip_settled"]

T = TypeVar("T")


def seed_bounds(conn: Connection, ctx: ImportContext, contact_ids: list[int]) -> None:
    """Start the run's attribution bounds of contacts first met in this chunk at their stored values (one read),
    so :func:`apply_activity` writes only what changes instead of an update per contact that changes nothing.
    Column by column: at a million contacts nearly every contact of a chunk is met for the first time."""
    bounds = ctx.bounds
    for chunk in batched(contact_ids, LOOKUP_BATCH):
        stored = stored_attribution(conn, chunk)
        if not stored:
            continue
        ids, created, identified, first_at, fs, fm, fc, last_at, ls, lm, lc = zip(*stored, strict=True)
        bounds.created.update(_known(ids, _stamps_of(created)))
        ctx.identified.update(_known(ids, _stamps_of(identified)))
        bounds.first.update(_known(ids, _touches(_stamps_of(first_at), fs, fm, fc)))
        bounds.last.update(_known(ids, _touches(_stamps_of(last_at), ls, lm, lc)))


def _stamps_of(values: Sequence[datetime | str | None]) -> list[datetime | None]:
    """Stored times as aware UTC: raw SQLite text (naive UTC, as :class:`~funnelbridge.store.types.UTCDateTime`
    writes it) or a driver's datetime; None stays None."""
    parse = datetime.fromisoformat
    return [None if v is None else parse(v + "+00:00") if isinstance(v, str) else as_utc(v) for v in values]


def _touches(ats: list[datetime | None], *parts: Sequence[str | None]) -> list[tuple[datetime, str, str, str] | None]:
    return [None if at is None else (at, s or "", m or "", c or "") for at, s, m, c in zip(ats, *parts, strict=True)]


def _known(ids: Sequence[int], values: Sequence[T | None]) -> Iterator[tuple[int, T]]:
    return ((cid, v) for cid, v in zip(ids, values, strict=True) if v is not None)


def skip_settled(seen: dict[int, ContactActivity], bound: dict[int, datetime]) -> None:
    """Drop identification times an earlier chunk of this run already wrote (or bettered)."""
    for contact_id, act in seen.items():
        if act.identified is None:
            continue
        settled = bound.get(contact_id)
        if settled is not None and settled <= act.identified:
            act.identified = None
        else:
            bound[contact_id] = act.identified
