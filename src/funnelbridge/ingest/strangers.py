"""People first seen in an intake batch: their contacts created in bulk before the batch's events are applied.

Most events of a batch come from people the store does not know yet by the one identifier they carry — a cookie
on a first page view, an email on a first email event. Their contacts are inserted with one statement and their
cookies linked with another; anything subtler (an identify with a cookie, a known person, a merge) is left to
:func:`~funnelbridge.ingest.identity.resolve_contact` as the batch applies its events in occurrence order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from funnelbridge.ingest.book import Book
from funnelbridge.ingest.events import Activity
from funnelbridge.ingest.identity import IdentityCache
from funnelbridge.ingest.newrows import insert_contacts
from funnelbridge.store import identities as identity_repo

if TYPE_CHECKING:
    from funnelbridge.ingest.intake import BatchResult

__all__ = ["create_strangers"]

_ANON, _EMAIL, _EXTERNAL = "anon", "email", "external"


def _firsts(cache: IdentityCache, fresh: Sequence[Activity]) -> list[tuple[str, str, Activity]]:
    """``(kind, id, event)`` of each event that is the first sign of a person known by exactly one identifier
    the store does not know (the first event in the batch to carry any of its identifiers)."""
    seen_anon, seen_email, seen_external = set[str](), set[str](), set[str]()
    by_anon, by_email, by_external = cache.by_anon, cache.by_email, cache.by_external
    out = []
    for act in fresh:
        anon, email, user = act.anonymous_id, act.email, act.user_id
        if email is None and user is None:  # the common cases, spelled out
            if anon is not None and anon not in seen_anon:
                seen_anon.add(anon)
                if anon not in by_anon:
                    out.append((_ANON, anon, act))
            continue
        if anon is None and user is None:
            if email not in seen_email:
                seen_email.add(email)  # type: ignore[arg-type]
                if email not in by_email:
                    out.append((_EMAIL, email, act))  # type: ignore[arg-type]
            continue
        if anon is None and email is None:
            if user not in seen_external:
                seen_external.add(user)  # type: ignore[arg-type]
                if user not in by_external:
                    out.append((_EXTERNAL, user, act))  # type: ignore[arg-type]
            continue
        for value, mine in ((anon, seen_anon), (email, seen_email), (user, seen_external)):
            if value is not None:
                mine.add(value)
    return out


def create_strangers(book: Book, fresh: Sequence[Activity], result: BatchResult) -> set[str]:
    """Create, in bulk, the contacts of people first seen in this batch by one identifier (the common case);
    anything subtler goes through :func:`~funnelbridge.ingest.identity.resolve_contact`. Returns the keys of the
    events that made a known person (an email or external id seen for the first time)."""
    cache = book.people
    new = _firsts(cache, fresh)
    if not new:
        return set()
    result.credit_created(act.key for _, _, act in new)
    values = [_stranger_row(kind, value, act.occurred_at) for kind, value, act in new]
    ids = insert_contacts(book.conn, values)
    links, made = [], set()
    for (kind, value, act), contact_id, row in zip(new, ids, values, strict=True):
        book.add(contact_id, row)
        if kind is _ANON:
            cache.by_anon[value] = contact_id
            links.append({"anonymous_id": value, "contact_id": contact_id, "first_seen_at": act.occurred_at})
        else:
            (cache.by_email if kind is _EMAIL else cache.by_external)[value] = contact_id
            result.new_people.add(contact_id)
            made.add(act.key)
    identity_repo.link_identities(book.conn, links)
    return made


def _stranger_row(kind: str, value: str, at: datetime) -> dict[str, Any]:
    return {
        "email": value if kind is _EMAIL else None,
        "external_id": value if kind is _EXTERNAL else None,
        "created_at": at,
        "identified_at": None if kind is _ANON else at,
        "updated_at": at,
        "version": 1,
        "unsubscribed": False,
        "bounced": False,
    }
