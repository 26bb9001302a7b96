"""Repository: identities — which anonymous visitor id (cookie) belongs to which contact. Never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from funnelbridge.store.bulk import execute_columns, execute_many, lookup
from funnelbridge.store.tables import identities

__all__ = [
    "anonymous_ids_of",
    "contacts_by_anonymous_ids",
    "link_identities",
    "link_identity",
    "link_identity_columns",
    "mark_identified",
    "move_identities",
]


def contacts_by_anonymous_ids(conn: Connection, anonymous_ids: Iterable[str | None]) -> dict[str, int]:
    """``{anonymous id: contact id}`` for the ids that are known."""
    return lookup(conn, identities.c.anonymous_id, identities.c.contact_id, anonymous_ids)


def link_identity(conn: Connection, anonymous_id: str, contact_id: int, first_seen_at: datetime) -> None:
    """Record that ``anonymous_id`` is ``contact_id`` (a new, still anonymous identity)."""
    conn.execute(_LINK, {"anonymous_id": anonymous_id, "contact_id": contact_id, "first_seen_at": first_seen_at})


def link_identities(conn: Connection, links: list[dict[str, Any]]) -> None:
    """Insert many ``{anonymous_id, contact_id, first_seen_at}`` links (executemany)."""
    execute_many(conn, _LINK, links)


def link_identity_columns(
    conn: Connection, anonymous_ids: Sequence[str], contact_ids: Sequence[int], first_seen: Sequence[datetime | str]
) -> None:
    """:func:`link_identities` given column by column (equal lengths): no dict per link. On SQLite the times may
    be the texts SQLite stores (:func:`~funnelbridge.store.bulk.sqlite_time`), bound as they are."""
    execute_columns(
        conn, _LINK, {"anonymous_id": anonymous_ids, "contact_id": contact_ids, "first_seen_at": first_seen}
    )


_LINK = identities.insert()  # built once, so execute_many compiles it once (SQLite fast path)


def mark_identified(conn: Connection, anonymous_id: str, at: datetime) -> None:
    conn.execute(_MARK, {"anon": anonymous_id, "at": at})


def anonymous_ids_of(conn: Connection, contact_id: int) -> list[str]:
    return list(conn.execute(_ANONS_OF, {"contact_id": contact_id}).scalars())


def move_identities(conn: Connection, anonymous_ids: list[str], contact_id: int) -> None:
    """Point the given anonymous ids at ``contact_id``."""
    if anonymous_ids:
        conn.execute(_MOVE, {"anons": anonymous_ids, "to": contact_id})


# built once: a statement object used again skips its construction and cache-key computation
_MARK = (
    update(identities)
    .where(identities.c.anonymous_id == bindparam("anon"), identities.c.identified_at.is_(None))
    .values(identified_at=bindparam("at"))
)
_ANONS_OF = select(identities.c.anonymous_id).where(identities.c.contact_id == bindparam("contact_id"))
_MOVE = (
    update(identities)
    .where(identities.c.anonymous_id.in_(bindparam("anons", expanding=True)))
    .values(contact_id=bindparam("to"))
)
