"""Campaign import (keyed by their ``utm_campaign`` value) and campaign costs per day (campaign + day)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from funnelbridge.ingest.context import ImportContext, Item
from funnelbridge.store import campaigns as repo

__all__ = ["write_campaigns", "write_costs"]

_FIELDS = ("name", "channel", "source", "medium", "started_on", "ended_on")


def _values(rec: dict[str, Any]) -> dict[str, Any]:
    values = {k: rec.get(k) for k in _FIELDS}
    values["name"] = values["name"] or rec["key"]
    values["channel"] = values["channel"] or rec.get("medium") or "other"
    return values


def write_campaigns(ctx: ImportContext, conn: Connection, items: list[Item]) -> set[int]:
    """Upsert one chunk of campaign rows by key; empty cells never blank a stored value."""
    stored = repo.campaign_rows(conn, (i.record["key"] for i in items if i.record.get("key")))
    for item in items:
        rec = item.record
        if not rec.get("key"):
            ctx.refuse(item, "key", "a campaign needs its key (the utm_campaign value)")
            continue
        if rec["started_on"] and rec.get("ended_on") and rec["ended_on"] < rec["started_on"]:
            ctx.refuse(item, "ended_on", f"ends ({rec['ended_on']}) before it starts ({rec['started_on']})")
            continue
        row = stored.get(rec["key"])
        if row is None:
            new = {"key": rec["key"], **_values(rec), "created_at": ctx.now}
            stored[rec["key"]] = {**new, "id": repo.insert_campaign(conn, new)}
            ctx.summary.inserted += 1
            continue
        changes = {k: v for k, v in rec.items() if k in _FIELDS and v is not None and row.get(k) != v}
        repo.update_campaign(conn, row["id"], changes)
        row.update(changes)
        ctx.summary.updated += bool(changes)
        ctx.summary.unchanged += not changes
    return set()


def write_costs(ctx: ImportContext, conn: Connection, items: list[Item]) -> set[int]:
    """Upsert one chunk of cost rows (campaign, day, amount, currency); the campaign must exist."""
    ids = repo.ids_by_keys(conn, (i.record.get("campaign") for i in items))
    known = repo.costs_of(conn, ids.values())
    for item in items:
        rec = item.record
        campaign_id = ids.get(rec.get("campaign") or "")
        problem = _cost_problem(rec, campaign_id)
        if problem:
            ctx.refuse(item, *problem)
            continue
        assert campaign_id is not None
        currency = (rec.get("currency") or "USD").upper()
        key, value = (campaign_id, rec["day"]), (Decimal(rec["amount"]), currency)
        if known.get(key) == value:
            ctx.summary.unchanged += 1
            continue
        repo.set_cost(conn, campaign_id, rec["day"], value[0], currency, exists=key in known)
        ctx.summary.updated += key in known
        ctx.summary.inserted += key not in known
        known[key] = value
    return set()


def _cost_problem(rec: dict[str, Any], campaign_id: int | None) -> tuple[str, str] | None:
    if not rec.get("campaign"):
        return "campaign", "missing: the campaign key"
    if campaign_id is None:
        return "campaign", f"unknown campaign {rec['campaign']!r} (import campaigns first)"
    if rec.get("day") is None:
        return "day", "missing: the day the cost was spent"
    if rec.get("amount") is None:
        return "amount", "missing: the amount spent"
    if rec["amount"] < 0:
        return "amount", f"a cost cannot be negative, got {rec['amount']}"
    if rec.get("currency") and (len(rec["currency"]) != 3 or not rec["currency"].isalpha()):
        return "currency", f"expected a three-letter currency code such as USD, got {rec['currency']!r}"
    return None
