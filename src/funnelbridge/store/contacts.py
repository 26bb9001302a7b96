"""Repository: contacts (people, known or anonymous). Never commits.

A contact that was merged away keeps its row with ``merged_into`` set and no email; :func:`resolve_merged`
follows that chain to the survivor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from funnelbridge.errors import NotFoundError
from funnelbridge.store.bulk import batched, execute_many, lookup
from funnelbridge.store.tables import contacts

__all__ = [
    "contact_rows",
    "get_contact",
    "ids_by_emails",
    "ids_by_external_ids",
    "insert_contact",
    "insert_contacts",
    "insert_contacts_returning",
    "resolve_merged",
    "update_contact",
]


def get_contact(conn: Connection, contact_id: int) -> dict[str, Any]:
    """The contact's row as a dict; NotFoundError when there is none."""
    row = conn.execute(select(contacts).where(contacts.c.id == contact_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"contact {contact_id} does not exist")
    return dict(row)


def contact_rows(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Rows of the given contacts, by id."""
    found: dict[int, dict[str, Any]] = {}
    for chunk in batched(sorted(set(ids)), 5000):
        for row in conn.execute(select(contacts).where(contacts.c.id.in_(chunk))).mappings():
            found[row["id"]] = dict(row)
    return found


def ids_by_emails(conn: Connection, emails: Iterable[str | None]) -> dict[str, int]:
    """``{normalized email: contact id}`` for the addresses that exist."""
    return lookup(conn, contacts.c.email, contacts.c.id, emails)


def ids_by_external_ids(conn: Connection, external_ids: Iterable[str | None]) -> dict[str, int]:
    """``{external id: contact id}`` for the external ids that exist."""
    return lookup(conn, contacts.c.external_id, contacts.c.id, external_ids)


def insert_contact(conn: Connection, values: Mapping[str, Any]) -> int:
    """Insert one contact; returns its id. ``created_at`` and ``updated_at`` must be given."""
    result = conn.execute(contacts.insert().values(**values).returning(contacts.c.id))
    return int(result.scalar_one())


def insert_contacts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert many contacts (executemany); every row must have the same keys, including ``version``,
    ``unsubscribed`` and ``bounced`` (column defaults are not applied on the fast path)."""
    execute_many(conn, _INSERT, rows)


_INSERT = contacts.insert()  # built once, so execute_many compiles it once


def insert_contacts_returning(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert many contacts (same keys each) and return their ids in the order of ``rows``."""
    if not rows:
        return []
    stmt = contacts.insert().returning(contacts.c.id, sort_by_parameter_order=True)
    return [int(r[0]) for r in conn.execute(stmt, rows)]


def update_contact(conn: Connection, contact_id: int, values: Mapping[str, Any], at: datetime) -> None:
    """Change some columns of a contact, bumping ``updated_at`` and ``version``."""
    if values:
        conn.execute(
            update(contacts)
            .where(contacts.c.id == contact_id)
            .values(**values, updated_at=at, version=contacts.c.version + 1)
        )


def resolve_merged(conn: Connection, contact_id: int) -> int:
    """Follow ``merged_into`` to the surviving contact (the id itself when it was never merged)."""
    seen = {contact_id}
    current = contact_id
    while True:
        nxt = conn.execute(select(contacts.c.merged_into).where(contacts.c.id == current)).scalar_one_or_none()
        if nxt is None or nxt in seen:
            return current
        seen.add(nxt)
        current = nxt
