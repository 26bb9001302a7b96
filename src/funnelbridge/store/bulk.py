"""Dialect-aware bulk helpers for repositories: ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL,
and key look-ups in batches small enough for any driver's parameter limit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

__all__ = ["LOOKUP_BATCH", "batched", "insert_ignore", "lookup"]

LOOKUP_BATCH = 5000
T = TypeVar("T")


def insert_ignore(conn: Connection, table: Table, index_elements: Sequence[str]) -> Insert:
    """An INSERT that silently skips rows clashing on the unique ``index_elements``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def lookup(conn: Connection, key: Column[Any], value: Column[Any], keys: Iterable[Any]) -> dict[Any, Any]:
    """``{key: value}`` for the rows whose ``key`` column is one of ``keys`` (None keys are skipped)."""
    wanted = {k for k in keys if k is not None}
    found: dict[Any, Any] = {}
    for chunk in batched(sorted(wanted), LOOKUP_BATCH):
        found.update({k: v for k, v in conn.execute(select(key, value).where(key.in_(chunk)))})
    return found
