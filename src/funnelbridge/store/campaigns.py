"""Repository: campaigns (keyed by their utm_campaign value) and their cost per day. Never commits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, update

from funnelbridge.store.bulk import lookup
from funnelbridge.store.tables import campaign_costs, campaigns

__all__ = ["campaign_rows", "costs_of", "ids_by_keys", "insert_campaign", "set_cost", "update_campaign"]


def ids_by_keys(conn: Connection, keys: Iterable[str | None]) -> dict[str, int]:
    return lookup(conn, campaigns.c.key, campaigns.c.id, keys)


def campaign_rows(conn: Connection, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Rows of the campaigns with the given keys, by key."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = conn.execute(select(campaigns).where(campaigns.c.key.in_(wanted))).mappings()
    return {row["key"]: dict(row) for row in rows}


def insert_campaign(conn: Connection, values: Mapping[str, Any]) -> int:
    return int(conn.execute(campaigns.insert().values(**values).returning(campaigns.c.id)).scalar_one())


def update_campaign(conn: Connection, campaign_id: int, values: Mapping[str, Any]) -> None:
    if values:
        conn.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(**values))


def costs_of(conn: Connection, campaign_ids: Iterable[int]) -> dict[tuple[int, date], tuple[Decimal, str]]:
    """``{(campaign id, day): (amount, currency)}`` of the given campaigns."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    query = select(campaign_costs).where(campaign_costs.c.campaign_id.in_(ids))
    return {(r.campaign_id, r.day): (Decimal(r.amount), r.currency) for r in conn.execute(query)}


def set_cost(conn: Connection, campaign_id: int, day: date, amount: Decimal, currency: str, *, exists: bool) -> None:
    """Insert or replace the cost of one campaign day."""
    if exists:
        conn.execute(
            update(campaign_costs)
            .where(campaign_costs.c.campaign_id == campaign_id, campaign_costs.c.day == day)
            .values(amount=amount, currency=currency)
        )
    else:
        conn.execute(campaign_costs.insert().values(campaign_id=campaign_id, day=day, amount=amount, currency=currency))
