"""Generic list queries for the API: whitelisted filters, sorting and limit/offset pagination (no SQL strings)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, func, select

from funnelbridge.errors import InputError

__all__ = ["Page", "list_rows"]


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def _coerce(table: Table, name: str, raw: str) -> Any:
    column = table.c[name]
    python_type: type | None
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = None
    if python_type is bool:
        if raw.lower() not in ("true", "false", "1", "0"):
            raise InputError(f"expected true or false, got {raw!r}", field=name)
        return raw.lower() in ("true", "1")
    if python_type is int:
        try:
            return int(raw)
        except ValueError:
            raise InputError(f"expected a whole number, got {raw!r}", field=name) from None
    return raw


def list_rows(
    conn: Connection,
    table: Table,
    *,
    filters: Mapping[str, str],
    sort: str | None,
    limit: int,
    offset: int,
    allowed_filters: Sequence[str],
    allowed_sorts: Sequence[str],
    default_sort: str = "id",
) -> Page:
    """One page of ``table``: equality filters on whitelisted columns, ``sort=col`` or ``sort=-col``."""
    query = select(table)
    for name, raw in filters.items():
        if name not in allowed_filters:
            raise InputError(f"cannot filter on {name!r} (filters: {', '.join(allowed_filters)})", field=name)
        query = query.where(table.c[name] == _coerce(table, name, raw))
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    sort = sort or default_sort
    desc = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in allowed_sorts:
        raise InputError(f"cannot sort by {key!r} (sortable: {', '.join(allowed_sorts)})", field="sort")
    order = table.c[key].desc() if desc else table.c[key].asc()
    tiebreak = next(iter(table.primary_key.columns))
    rows = conn.execute(query.order_by(order, tiebreak).limit(limit).offset(offset)).mappings()
    return Page([dict(r) for r in rows], int(total), limit, offset)
