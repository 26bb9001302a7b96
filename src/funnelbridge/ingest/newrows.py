"""New contact and account rows of an intake batch, inserted in bulk with their ids.

On SQLite a plain ``executemany`` (several times faster than ``INSERT ... RETURNING`` through SQLAlchemy, which
runs row by row when the ids must come back in order): the write transaction holds SQLite's write lock, so the new
rows take the ids after the largest one — checked, not assumed: they must fill exactly the range above it.
Elsewhere ``INSERT ... RETURNING``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table, func, select

from funnelbridge.errors import StoreError
from funnelbridge.store import accounts as account_repo
from funnelbridge.store import contacts as contact_repo
from funnelbridge.store.bulk import execute_many
from funnelbridge.store.tables import accounts, contacts

__all__ = ["insert_accounts", "insert_contacts", "max_id", "new_ids"]

_ACCOUNT_INSERT = accounts.insert()  # built once, so execute_many compiles it once per column set
_CONVERTED = {"annual_revenue"}  # Money: its column type converts the value, which execute_many does not


def insert_contacts(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert contacts (same keys each, including ``version``, ``unsubscribed``, ``bounced``); ids in order."""
    if conn.dialect.name != "sqlite":
        return contact_repo.insert_contacts_returning(conn, rows)
    return _consecutive(conn, contacts, rows, lambda: contact_repo.insert_contacts(conn, rows))


def insert_accounts(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert accounts (same keys each); their ids in order."""
    if not rows:
        return []
    if conn.dialect.name != "sqlite" or len(rows) == 1 or _CONVERTED & rows[0].keys():
        return account_repo.insert_accounts_returning(conn, rows)  # one row: one statement, not three
    return _consecutive(conn, accounts, rows, lambda: execute_many(conn, _ACCOUNT_INSERT, rows))


def _consecutive(conn: Connection, table: Table, rows: list[dict[str, Any]], insert: Callable[[], None]) -> list[int]:
    before = max_id(conn, table)
    insert()
    after = max_id(conn, table)
    if after - before != len(rows):
        raise StoreError(f"{table.name} ids of a bulk insert are not consecutive ({before}..{after} for {len(rows)})")
    return list(range(before + 1, after + 1))


def new_ids(conn: Connection, table: Table, before: int, count: int) -> list[int] | None:
    """The ids of the ``count`` rows just inserted into ``table`` (SQLite, in one write transaction) when the
    largest id was ``before``: the range above it when they fill it exactly, else None (look them up)."""
    after = max_id(conn, table)
    return list(range(before + 1, after + 1)) if after - before == count else None


def max_id(conn: Connection, table: Table) -> int:
    """The largest id of ``table`` (0 when it is empty)."""
    stmt = _MAX_ID.get(table.name)
    if stmt is None:
        stmt = _MAX_ID.setdefault(table.name, select(func.coalesce(func.max(table.c.id), 0)))
    return int(conn.execute(stmt).scalar_one())


_MAX_ID: dict[str, Any] = {}  # by table: the statement is built once (SQLAlchemy caches its compiled form)
