"""Repository: contacts (people, known or anonymous). Never commits.

A contact that was merged away keeps its row with ``merged_into`` set and no email; :func:`resolve_merged`
follows that chain to the survivor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from itertools import compress, repeat
from operator import is_not, or_
from typing import Any

from sqlalchemy import Connection, Integer, String, Update, bindparam, false, literal_column, select, update
from sqlalchemy import func as sql

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
    "insert_stamped_contacts",
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


def insert_stamped_contacts(
    conn: Connection,
    first_id: int,
    stamps: Sequence[str],
    emails: Sequence[str | None],
    external_ids: Sequence[str | None],
) -> None:
    """SQLite: new contacts ``first_id``, ``first_id + 1``, … created (and updated) at ``stamps`` — times as SQLite
    stores them (:func:`~funnelbridge.store.bulk.sqlite_time`) — with ``emails`` / ``external_ids`` (None: none),
    identified at that time when either is set; every other column NULL or its default. Stored exactly as
    :func:`insert_contact_columns` stores the same values.

    The anonymous ones (neither set) go in one ``INSERT … SELECT`` over a JSON array of their times (``json_each``;
    None in the people's places), the people by ``executemany``: SQLite's ``executemany`` binds each contact's nine
    parameters one by one (a ``bool`` through the adapter look-up): 5.6–7.5 against 2.0–2.2 CPU-µs an anonymous
    contact, 1,000,000 stored (raw ``sqlite3``, 100,000 contacts in chunks of 2,500, two runs each). Through JSON
    a person's values would be parsed out of its array once per ``->>`` (SQLite 3.40 caches no parse across
    them), and a chunk with people (50,000 contacts, 43% people) was no cheaper that way than bound (0.445 against
    0.432 CPU s)."""
    people = list(map(or_, map(is_not, emails, repeat(None)), map(is_not, external_ids, repeat(None))))
    if people.count(False):
        anonymous = json.dumps([None if person else stamp for person, stamp in zip(people, stamps, strict=True)])
        conn.exec_driver_sql(_anonymous_sql(conn.dialect), (first_id, anonymous))
    if any(people):
        ids = list(compress(range(first_id, first_id + len(stamps)), people))
        at = list(compress(stamps, people))
        execute_columns(conn, _INSERT, {
            "id": ids, "email": list(compress(emails, people)), "external_id": list(compress(external_ids, people)),
            "created_at": at, "identified_at": at, "updated_at": at,
            "version": [1] * len(ids), "unsubscribed": [0] * len(ids), "bounced": [0] * len(ids),
        })  # fmt: skip


@cache
def _anonymous_sql(dialect: Any) -> str:
    """:func:`insert_stamped_contacts`' statement for the anonymous contacts: parameters the first id and the JSON
    array of times (null: not an anonymous contact's place)."""
    each = sql.json_each(bindparam("stamps", type_=String)).table_valued("key", "value")
    picked = select(bindparam("first_id", type_=Integer) + each.c.key, each.c.value, each.c.value, false(), false(),
                    literal_column("1")).where(each.c.value.is_not(None))  # fmt: skip
    names = ["id", "created_at", "updated_at", "unsubscribed", "bounced", "version"]
    compiled = contacts.insert().from_select(names, picked).compile(dialect=dialect)
    assert compiled.positiontup == ["first_id", "stamps"]  # the order of the parameters given
    return str(compiled)


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
