"""Repository: accounts (companies), keyed by normalized domain or external id. Never commits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from funnelbridge.store.bulk import batched, lookup
from funnelbridge.store.tables import accounts

__all__ = [
    "account_row",
    "account_rows",
    "ids_by_domains",
    "ids_by_external_ids",
    "insert_account",
    "insert_accounts_returning",
    "update_account",
]


def account_row(conn: Connection, account_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).mappings().first()
    return None if row is None else dict(row)


def ids_by_domains(conn: Connection, domains: Iterable[str | None]) -> dict[str, int]:
    """``{domain: account id}`` for the domains that exist."""
    return lookup(conn, accounts.c.domain, accounts.c.id, domains)


def ids_by_external_ids(conn: Connection, external_ids: Iterable[str | None]) -> dict[str, int]:
    return lookup(conn, accounts.c.external_id, accounts.c.id, external_ids)


def insert_account(conn: Connection, values: Mapping[str, Any]) -> int:
    """Insert one account; returns its id. ``created_at``/``updated_at`` must be given."""
    return int(conn.execute(accounts.insert().values(**values).returning(accounts.c.id)).scalar_one())


def insert_accounts_returning(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert many accounts (same keys each); their ids in the order of ``rows``."""
    if not rows:
        return []
    stmt = accounts.insert().returning(accounts.c.id, sort_by_parameter_order=True)
    return [int(r[0]) for r in conn.execute(stmt, rows)]


def account_rows(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Rows of the given accounts, by id."""
    found: dict[int, dict[str, Any]] = {}
    for chunk in batched(sorted(set(ids)), 5000):
        for row in conn.execute(select(accounts).where(accounts.c.id.in_(chunk))).mappings():
            found[row["id"]] = dict(row)
    return found


def update_account(conn: Connection, account_id: int, values: Mapping[str, Any], at: datetime) -> None:
    if values:
        conn.execute(update(accounts).where(accounts.c.id == account_id).values(**values, updated_at=at))
