"""Repository: contacts (people, known or anonymous). Never commits.

A contact that was merged away keeps its row with ``merged_into`` set and no email; :func:`resolve_merged`
follows that chain to the survivor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Update, bindparam, select, update

from funnelbridge.errors import NotFoundError
from funnelbridge.store.bulk import batched, execute_columns, execute_many, lookup
from funnelbridge.store.tables import contacts

__all__ = [
    "contact_rows",
    "get_contact",
    "ids_by_emails",
    "ids_by_external_ids",
    "insert_contact",
    "insert_contact_columns",
    "insert_contacts",
    "insert_contacts_returning",
    "resolve_merged",
    "update_contact",
    "update_contacts",
]


def get_contact(conn: Connection, contact_id: int) -> dict[str, Any]:
    """The contact's row as a dict; NotFoundError when there is none."""
    row = conn.execute(_GET, {"k_id": contact_id}).mappings().first()
    if row is None:
        raise NotFoundError(f"contact {contact_id} does not exist")
    return dict(row)


def contact_rows(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Rows of the given contacts, by id."""
    found: dict[int, dict[str, Any]] = {}
    for chunk in batched(sorted(set(ids)), 5000):
        for row in conn.execute(_ROWS, {"k_ids": chunk}).mappings():
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


def insert_contact_columns(conn: Connection, columns: Mapping[str, Sequence[Any]]) -> None:
    """:func:`insert_contacts` of contacts given column by column (``{column: values}``, equal lengths)."""
    execute_columns(conn, _INSERT, columns)


_INSERT = contacts.insert()  # built once, so execute_many compiles it once
_GET = select(contacts).where(contacts.c.id == bindparam("k_id"))
_ROWS = select(contacts).where(contacts.c.id.in_(bindparam("k_ids", expanding=True)))


def insert_contacts_returning(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert many contacts (same keys each) and return their ids in the order of ``rows``."""
    if not rows:
        return []
    stmt = contacts.insert().returning(contacts.c.id, sort_by_parameter_order=True)
    return [int(r[0]) for r in conn.execute(stmt, rows)]


def update_contact(conn: Connection, contact_id: int, values: Mapping[str, Any], at: datetime) -> None:
    """Change some columns of a contact, bumping ``updated_at`` and ``version``."""
    if values:
        params = {f"v_{k}": v for k, v in values.items()}
        conn.execute(_update_statement(tuple(sorted(values))), {**params, "k_id": contact_id, "v_updated_at": at})


def update_contacts(conn: Connection, changes: Mapping[int, Mapping[str, Any]], at: datetime) -> None:
    """:func:`update_contact` for many contacts: one ``executemany`` per set of changed columns (in id order;
    contacts without changes are left alone)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for contact_id, values in sorted(changes.items()):
        if values:
            columns = tuple(sorted(values))
            params = {f"v_{k}": values[k] for k in columns}
            groups.setdefault(columns, []).append({"k_id": contact_id, "v_updated_at": at, **params})
    for columns, rows in groups.items():
        execute_many(conn, _update_statement(columns), rows)


@cache  # one statement per column set, built once: SQLAlchemy (and execute_many) compile it once
def _update_statement(columns: tuple[str, ...]) -> Update:
    """``UPDATE contacts`` of these columns (parameters ``v_<column>``), ``updated_at`` (``v_updated_at``) and
    ``version + 1``, of the contact ``k_id``."""
    values: dict[str, Any] = {k: bindparam(f"v_{k}") for k in (*columns, "updated_at")}
    return (
        update(contacts).where(contacts.c.id == bindparam("k_id")).values({**values, "version": contacts.c.version + 1})
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
