"""Identity resolution: who is behind an event.

An anonymous visitor is a contact row without an email, created at its first event and linked to its cookie id
through ``identities`` — so the lifecycle counts it as a visitor. When the visitor identifies (an identify or form
event with an email), that same row gets the email and ``identified_at`` (visitor → lead), so its earlier events
and first touch already belong to it. When another contact already has that email, the visitor is *merged* into
it: events, cookie ids and deals move to the survivor, blanks of the survivor are filled, and a ``merges`` row
records a snapshot from which :func:`unmerge_contacts` restores both contacts exactly.

Contacts are deduplicated by normalized email (unique in the store) and matched by external id (``user_id``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, select, update

from funnelbridge.domain.clock import as_utc
from funnelbridge.errors import DomainError, NotFoundError
from funnelbridge.runtime import Runtime
from funnelbridge.store import contacts as contact_repo
from funnelbridge.store import events as event_repo
from funnelbridge.store import identities as identity_repo
from funnelbridge.store.tables import deals, merges

if TYPE_CHECKING:
    from funnelbridge.ingest.book import Book

__all__ = [
    "IdentityCache",
    "MergeResult",
    "Resolution",
    "merge",
    "merge_contacts",
    "merge_contacts_with_cookies",
    "resolve_contact",
    "unmerge",
    "unmerge_contacts",
]

_FILL = (
    "first_name",
    "last_name",
    "title",
    "seniority",
    "phone",
    "country",
    "account_id",
    "owner_id",
    "bant_budget",
    "bant_authority",
    "bant_need",
    "bant_timeline",
    "external_id",
)
_TOUCH = ("source", "medium", "campaign", "touch_at")
_TIMES = {"created_at", "identified_at", "updated_at", "first_touch_at", "last_touch_at"}


@dataclass
class IdentityCache:
    """Look-ups already made in this batch: email, external id and anonymous id → contact id."""

    by_email: dict[str, int] = field(default_factory=dict)
    by_external: dict[str, int] = field(default_factory=dict)
    by_anon: dict[str, int] = field(default_factory=dict)

    def prefetch(
        self,
        conn: Connection,
        emails: Iterable[str | None],
        externals: Iterable[str | None],
        anons: Iterable[str | None],
    ) -> None:
        """Load the contacts behind these keys in three queries."""
        self.by_email.update(contact_repo.ids_by_emails(conn, (e for e in emails if e and e not in self.by_email)))
        self.by_external.update(
            contact_repo.ids_by_external_ids(conn, (x for x in externals if x and x not in self.by_external))
        )
        self.by_anon.update(
            identity_repo.contacts_by_anonymous_ids(conn, (a for a in anons if a and a not in self.by_anon))
        )


@dataclass(frozen=True)
class Resolution:
    """The contact an event belongs to, and what resolving it did: ``created`` a new contact, or ``identified`` an
    anonymous visitor (a known person created with their email is created, not identified — whichever path
    created it)."""

    contact_id: int
    created: bool = False
    identified: bool = False
    merged_id: int | None = None


def _create(book: Book, email: str | None, external: str | None, at: datetime) -> int:
    values = {"email": email, "external_id": external, "created_at": at, "updated_at": at}
    values["identified_at"] = at if (email is not None or external is not None) else None
    contact_id = contact_repo.insert_contact(book.conn, values)
    book.add(contact_id, values)
    if email:
        book.people.by_email[email] = contact_id
    if external:
        book.people.by_external[external] = contact_id
    return contact_id


def _link(book: Book, anon: str, contact_id: int, at: datetime, identified: bool) -> None:
    identity_repo.link_identity(book.conn, anon, contact_id, at)
    if identified:
        book.mark_identified(anon, at)
    book.people.by_anon[anon] = contact_id


def _identify_visitor(book: Book, visitor: int, email: str | None, external: str | None, at: datetime) -> bool:
    """Give an anonymous contact its email/external id; False when it is already someone else."""
    row = book.row(visitor)
    if row["email"] is not None or (row["external_id"] is not None and row["external_id"] != external):
        return False
    values: dict[str, Any] = {"identified_at": at}
    if email:
        values["email"] = email
        book.people.by_email[email] = visitor
    if external:
        values["external_id"] = external
        book.people.by_external[external] = visitor
    book.change(visitor, values, at)
    return True


def resolve_contact(
    book: Book, *, email: str | None, external_id: str | None, anonymous_id: str | None, at: datetime
) -> Resolution:
    """Find (or create) the contact of an event carrying these identifiers, identifying or merging visitors;
    the batch's :class:`~funnelbridge.ingest.book.Book` holds the rows and writes the changes."""
    cache = book.people
    known = (cache.by_external.get(external_id) if external_id else None) or (
        cache.by_email.get(email) if email else None
    )
    visitor = cache.by_anon.get(anonymous_id) if anonymous_id else None
    identifying = email is not None or external_id is not None
    if known is None and visitor is None:
        contact_id = _create(book, email, external_id, at)
        if anonymous_id:
            _link(book, anonymous_id, contact_id, at, identifying)
        return Resolution(contact_id, created=True)  # a new person, not a visitor becoming known
    if known is None:
        assert visitor is not None
        if not identifying:
            return Resolution(visitor)
        if _identify_visitor(book, visitor, email, external_id, at):
            book.mark_identified(anonymous_id, at)
            return Resolution(visitor, identified=True)
        return Resolution(_create(book, email, external_id, at), created=True)
    if visitor is None:
        if anonymous_id:
            _link(book, anonymous_id, known, at, True)
        return Resolution(known)
    if visitor == known or book.row(visitor)["email"] is not None:
        return Resolution(known)  # same person, or a shared device of two known people: keep both apart
    cookies = book.merge(known, visitor, "identified")  # every cookie of the visitor the cache holds is stored
    cache.by_anon.update({a: known for a in cookies if cache.by_anon.get(a) == visitor})
    taken = book.row(known)["external_id"]  # the survivor takes over the visitor's external id if it had none
    if taken is not None and cache.by_external.get(taken) == visitor:
        cache.by_external[taken] = known
    book.mark_identified(anonymous_id, at)
    return Resolution(known, identified=True, merged_id=visitor)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (as_utc(v).isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def _from_json(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (datetime.fromisoformat(v) if k in _TIMES and isinstance(v, str) else v) for k, v in values.items()}


def _survivor_changes(survivor: dict[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    changes = {c: merged[c] for c in _FILL if survivor[c] is None and merged[c] is not None}
    for col in ("created_at", "identified_at"):
        if merged[col] is not None and (survivor[col] is None or as_utc(merged[col]) < as_utc(survivor[col])):
            changes[col] = merged[col]
    for end, earlier in (("first", True), ("last", False)):
        theirs, ours = merged[f"{end}_touch_at"], survivor[f"{end}_touch_at"]
        if theirs is not None and (ours is None or (as_utc(theirs) < as_utc(ours)) == earlier):
            changes.update({f"{end}_{k}": merged[f"{end}_{k}"] for k in _TOUCH})
    for flag in ("unsubscribed", "bounced"):
        if merged[flag] and not survivor[flag]:
            changes[flag] = True
    if merged["properties"]:
        changes["properties"] = {**merged["properties"], **(survivor["properties"] or {})}
    return changes


def merge_contacts(conn: Connection, survivor_id: int, merged_id: int, reason: str, at: datetime) -> int:
    """Merge contact ``merged_id`` into ``survivor_id``; returns the id of the ``merges`` row (for undo)."""
    return merge_contacts_with_cookies(conn, survivor_id, merged_id, reason, at)[0]


def merge_contacts_with_cookies(
    conn: Connection, survivor_id: int, merged_id: int, reason: str, at: datetime
) -> tuple[int, list[str]]:
    """:func:`merge_contacts`, also returning the anonymous ids (cookies) that moved to the survivor."""
    if survivor_id == merged_id:
        raise DomainError(f"cannot merge contact {merged_id} into itself")
    survivor, merged = contact_repo.get_contact(conn, survivor_id), contact_repo.get_contact(conn, merged_id)
    if merged["merged_into"] is not None:
        raise DomainError(f"contact {merged_id} was already merged into {merged['merged_into']}")
    changes = _survivor_changes(survivor, merged)
    moved: dict[str, Any] = {
        "event_ids": event_repo.event_ids_of(conn, merged_id),
        "anonymous_ids": identity_repo.anonymous_ids_of(conn, merged_id),
        "deal_ids": list(conn.execute(_DEALS_OF, {"contact_id": merged_id}).scalars()),
    }
    snapshot = {
        "merged": _jsonable(merged),
        "survivor_before": _jsonable({k: survivor[k] for k in (*changes, "email", "external_id")}),
        **moved,
    }
    away = {"merged_into": survivor_id, "email": None}
    if "external_id" in changes:
        away["external_id"] = None
    contact_repo.update_contact(conn, merged_id, away, at)
    contact_repo.update_contact(conn, survivor_id, changes, at)
    event_repo.move_event_ids(conn, moved["event_ids"], survivor_id)
    identity_repo.move_identities(conn, moved["anonymous_ids"], survivor_id)
    if moved["deal_ids"]:
        conn.execute(_MOVE_DEALS, {"ids": moved["deal_ids"], "to": survivor_id})
    row = {"survivor_id": survivor_id, "merged_id": merged_id, "at": at, "reason": reason, "snapshot": snapshot}
    merge_id = int(conn.execute(_RECORD_MERGE, row).scalar_one())
    return merge_id, moved["anonymous_ids"]


# built once: a statement object used again skips its construction and cache-key computation
_DEALS_OF = select(deals.c.id).where(deals.c.contact_id == bindparam("contact_id"))
_MOVE_DEALS = update(deals).where(deals.c.id.in_(bindparam("ids", expanding=True))).values(contact_id=bindparam("to"))
_RECORD_MERGE = merges.insert().returning(merges.c.id)


def unmerge_contacts(conn: Connection, merge_id: int, at: datetime) -> tuple[int, int]:
    """Undo a merge: restore both contacts and move back what moved. Returns (survivor id, restored id).

    Events that arrived for the survivor after the merge stay with it."""
    row = conn.execute(select(merges).where(merges.c.id == merge_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"merge {merge_id} does not exist")
    if row["reverted_at"] is not None:
        raise DomainError(f"merge {merge_id} was already undone at {row['reverted_at']}")
    snap, survivor_id, merged_id = row["snapshot"], row["survivor_id"], row["merged_id"]
    restored = _from_json({k: v for k, v in snap["merged"].items() if k not in ("id", "version", "updated_at")})
    before = _from_json(snap["survivor_before"])
    contact_repo.update_contact(conn, survivor_id, before, at)  # first: frees an email/external id it took over
    contact_repo.update_contact(conn, merged_id, restored, at)
    event_repo.move_event_ids(conn, snap["event_ids"], merged_id)
    identity_repo.move_identities(conn, snap["anonymous_ids"], merged_id)
    if snap["deal_ids"]:
        conn.execute(_MOVE_DEALS, {"ids": snap["deal_ids"], "to": merged_id})
    conn.execute(update(merges).where(merges.c.id == merge_id).values(reverted_at=at))
    return survivor_id, merged_id


@dataclass(frozen=True)
class MergeResult:
    """A merge (or its undo): the merges row and the two contacts."""

    merge_id: int
    survivor_id: int
    merged_id: int


def merge(rt: Runtime, survivor_id: int, merged_id: int, reason: str = "manual") -> MergeResult:
    """Merge one contact into another (its own transaction); undo with :func:`unmerge`."""
    with rt.db.transaction() as conn:
        merge_id = merge_contacts(conn, survivor_id, merged_id, reason, rt.clock.now())
    return MergeResult(merge_id, survivor_id, merged_id)


def unmerge(rt: Runtime, merge_id: int) -> MergeResult:
    """Undo a recorded merge (its own transaction)."""
    with rt.db.transaction() as conn:
        survivor_id, merged_id = unmerge_contacts(conn, merge_id, rt.clock.now())
    return MergeResult(merge_id, survivor_id, merged_id)
