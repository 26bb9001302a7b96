"""Historical deal import (HubSpot deals, Salesforce opportunities): upsert by external id into ``deals``.

Stages are matched to the pipeline's deal stages (ids or labels, case and punctuation ignored, plus the common
HubSpot/Salesforce stage names); "closed won"/"closed lost" set the status. Probability comes from the file
(0–1 or 0–100) or from the stage. Deals without an external id get one derived from name, account and contact
so that re-imports find them. The lifecycle's deal commands (open/move/win/lose) own live changes; this only
writes history.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, time
from typing import Any

from sqlalchemy import Connection, select, update

from funnelbridge.ingest.columns import normalize_header
from funnelbridge.ingest.context import ImportContext, Item
from funnelbridge.store import contacts as contact_repo
from funnelbridge.store.bulk import lookup
from funnelbridge.store.tables import accounts, contacts, deals

__all__ = ["STAGE_ALIASES", "write_deals"]

STAGE_ALIASES = {
    "appointmentscheduled": "meeting",
    "appointment_scheduled": "meeting",
    "qualifiedtobuy": "qualification",
    "qualified_to_buy": "qualification",
    "needs_analysis": "qualification",
    "value_proposition": "meeting",
    "id_decision_makers": "meeting",
    "presentationscheduled": "meeting",
    "presentation_scheduled": "meeting",
    "perception_analysis": "proposal",
    "decisionmakerboughtin": "proposal",
    "decision_maker_bought_in": "proposal",
    "proposal_price_quote": "proposal",
    "contractsent": "negotiation",
    "contract_sent": "negotiation",
    "negotiation_review": "negotiation",
    "closedwon": "closed_won",
    "won": "closed_won",
    "closedlost": "closed_lost",
    "lost": "closed_lost",
}
"""Common CRM stage names (normalized) → funnelbridge deal stage ids."""

_COMPARED: tuple[str, ...] = (
    "name",
    "amount",
    "currency",
    "stage",
    "probability",
    "expected_close",
    "status",
    "loss_reason",
)
_COMPARED += ("competitor", "contact_id", "account_id", "closed_at", "pipeline")


def _stage(ctx: ImportContext, raw: str | None, pipeline: str) -> tuple[str, str, float] | str:
    """(stage id, status, default probability), or the reason the stage is unknown."""
    stages = ctx.rt.playbook.pipelines[pipeline].deal_stages if pipeline in ctx.rt.playbook.pipelines else ()
    known = {normalize_header(s.id): s for s in stages}
    name = normalize_header(raw or "")
    name = STAGE_ALIASES.get(name, name)
    if name == "closed_won":
        return "closed_won", "won", 1.0
    if name == "closed_lost":
        return "closed_lost", "lost", 0.0
    if name in known:
        return known[name].id, "open", known[name].probability
    choices = ", ".join([*known, "closed_won", "closed_lost"])
    return f"unknown deal stage {raw!r} (stages: {choices})" if raw else "missing: the deal stage"


def _derived_key(rec: dict[str, Any]) -> str:
    parts = [rec.get("name"), rec.get("account_external_id"), rec.get("account_name"), rec.get("contact_email")]
    body = "|".join(str(p or "") for p in [*parts, rec.get("contact_external_id"), rec.get("opened_at")])
    return "d:" + hashlib.sha1(body.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _values(ctx: ImportContext, rec: dict[str, Any], stage: tuple[str, str, float]) -> dict[str, Any]:
    stage_id, status, default_p = stage
    p = rec.get("probability")
    probability = default_p if p is None or status != "open" else (p / 100 if p > 1 else p)
    opened = rec.get("opened_at") or ctx.now
    closed = rec.get("closed_at")
    if status != "open" and closed is None:
        close = rec.get("expected_close")
        closed = datetime.combine(close, time(), ctx.zone) if close else opened
    return {
        "name": rec.get("name") or rec["external_id"],
        "amount": rec["amount"],
        "currency": (rec.get("currency") or "USD").upper(),
        "stage": stage_id,
        "probability": max(0.0, min(1.0, float(probability))),
        "expected_close": rec.get("expected_close"),
        "opened_at": opened,
        "closed_at": closed if status != "open" else None,
        "status": status,
        "loss_reason": rec.get("loss_reason") if status == "lost" else None,
        "competitor": rec.get("competitor"),
        "pipeline": rec.get("pipeline") or ctx.rt.playbook.main_name,
    }


def _links(conn: Connection, items: list[Item]) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    recs = [i.record for i in items]
    by_email = contact_repo.ids_by_emails(conn, (r.get("contact_email") for r in recs))
    by_ext = contact_repo.ids_by_external_ids(conn, (r.get("contact_external_id") for r in recs))
    acc = lookup(conn, accounts.c.external_id, accounts.c.id, (r.get("account_external_id") for r in recs))
    return by_email, by_ext, acc


def write_deals(ctx: ImportContext, conn: Connection, items: list[Item]) -> set[int]:
    """Upsert one chunk of deal rows."""
    by_email, by_ext, by_account = _links(conn, items)
    for item in items:
        item.record["external_id"] = item.record.get("external_id") or _derived_key(item.record)
    keys = [i.record["external_id"] for i in items]
    stored = {r["external_id"]: dict(r) for r in _stored(conn, keys)}
    for item in items:
        rec = item.record
        if rec.get("amount") is None:
            ctx.refuse(item, "amount", "missing: the deal amount")
            continue
        pipeline = rec.get("pipeline") or ctx.rt.playbook.main_name
        stage = _stage(ctx, rec.get("stage"), pipeline)
        if isinstance(stage, str):
            ctx.refuse(item, "stage", stage)
            continue
        values = _values(ctx, rec, stage)
        contact_id = by_ext.get(rec.get("contact_external_id") or "") or by_email.get(rec.get("contact_email") or "")
        values["contact_id"] = contact_id
        values["account_id"] = by_account.get(rec.get("account_external_id") or "") or _account_of(conn, contact_id)
        stored[rec["external_id"]] = _upsert(conn, ctx, stored.get(rec["external_id"]), rec["external_id"], values)
    return set()


def _stored(conn: Connection, keys: list[str]) -> list[Any]:
    return list(conn.execute(select(deals).where(deals.c.external_id.in_(keys))).mappings()) if keys else []


def _account_of(conn: Connection, contact_id: int | None) -> int | None:
    if contact_id is None:
        return None
    return conn.execute(select(contacts.c.account_id).where(contacts.c.id == contact_id)).scalar_one_or_none()


def _upsert(
    conn: Connection, ctx: ImportContext, row: dict[str, Any] | None, key: str, values: dict[str, Any]
) -> dict[str, Any]:
    """Insert or update one deal; returns its row as it is now."""
    if row is None:
        new_id = conn.execute(deals.insert().values(external_id=key, version=1, **values).returning(deals.c.id))
        ctx.summary.inserted += 1
        return {**values, "id": new_id.scalar_one(), "external_id": key}
    changes = {k: values[k] for k in _COMPARED if values[k] is not None and _differs(row[k], values[k])}
    if changes:
        conn.execute(update(deals).where(deals.c.id == row["id"]).values(**changes, version=deals.c.version + 1))
        ctx.summary.updated += 1
    else:
        ctx.summary.unchanged += 1
    return {**row, **changes}


def _differs(old: Any, new: Any) -> bool:
    if isinstance(new, datetime) and isinstance(old, datetime):
        from funnelbridge.domain.clock import as_utc

        return as_utc(old) != as_utc(new)
    if isinstance(new, float) and old is not None:
        return abs(float(old) - new) > 1e-9
    return bool(old != new)
