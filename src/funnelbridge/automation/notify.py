"""Notifications: resolve recipients and snapshot what the message needs into an outbox payload.

The payload is a complete, self-contained description (recipients, lead, score and its explanation, trigger), so the
worker renders the same message however often it retries; only presentation settings (sender, base URL, webhook
secret) are applied at delivery.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from funnelbridge.automation.actions import Action
from funnelbridge.automation.batch import Lookups
from funnelbridge.automation.triggers import Occurrence
from funnelbridge.store import raw_rows
from funnelbridge.store.tables import accounts, contacts, deals, pipeline_states, scores
from funnelbridge.store.users import UserRow

__all__ = ["lead_snapshot", "notification_payload", "recipients"]


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# Statements built once with bind parameters: notifications run per lead on the activity flow's hot path, and
# building a statement per call costs several times what executing the compiled one does.
_c = contacts.c
_s = scores.c
_SCORE_COLUMNS = (_s.fit, _s.engagement, _s.negative, _s.total, _s.grade, _s.temperature, _s.explanation)
_LEAD = (  # the lead, its company and its main score in one query
    select(
        _c.id,
        _c.email,
        _c.first_name,
        _c.last_name,
        _c.title,
        _c.owner_id,
        accounts.c.name.label("company"),
        _s.contact_id.label("scored"),
        *(c.label(f"score_{c.name}") for c in _SCORE_COLUMNS),
    )
    .select_from(
        contacts.outerjoin(accounts, accounts.c.id == _c.account_id).outerjoin(
            scores, (_s.contact_id == _c.id) & (_s.score_group == "main")
        )
    )
    .where(_c.id == bindparam("cid"))
)
_STAGES = select(pipeline_states.c.pipeline, pipeline_states.c.stage).where(
    pipeline_states.c.contact_id == bindparam("cid")
)
_DEAL_OWNER = select(deals.c.owner_id).where(deals.c.id == bindparam("did"))


_LEAD_KEYS = tuple(c.key for c in _LEAD.selected_columns)


def lead_snapshot(conn: Connection, contact_id: int) -> dict[str, Any]:
    """Who the lead is, where they stand and why they scored as they did (read without SQLAlchemy's per-row
    processing on SQLite: :func:`~funnelbridge.store.raw_rows.rows`)."""
    found = raw_rows.rows(conn, _LEAD, {"cid": contact_id})
    if not found:
        return {"id": contact_id}
    m = dict(zip(_LEAD_KEYS, found[0], strict=True))
    name = " ".join(p for p in (m["first_name"], m["last_name"]) if p) or m["email"] or f"contact {contact_id}"
    stages = raw_rows.rows(conn, _STAGES, {"cid": contact_id})
    lead: dict[str, Any] = {
        "id": contact_id,
        "name": name,
        "email": m["email"],
        "title": m["title"],
        "company": m["company"],
        "stages": {p: s for p, s in stages},
    }
    lead["score"] = None if m["scored"] is None else {c.name: _iso(m[f"score_{c.name}"]) for c in _SCORE_COLUMNS}
    return lead


def _person(user: UserRow) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name}


def _owner(conn: Connection, lookups: Lookups, contact_id: int | None, deal_id: int | None = None) -> UserRow | None:
    """The deal's owner for deal triggers (when it has one), else the lead's owner."""
    owner_id = None
    if deal_id is not None:
        found = raw_rows.rows(conn, _DEAL_OWNER, {"did": deal_id})
        owner_id = found[0][0] if found else None
    if owner_id is None and contact_id is not None:
        owner_id = lookups.owner_id(conn, contact_id)
    return None if owner_id is None else lookups.user(conn, int(owner_id))


def recipients(
    conn: Connection, contact_id: int, action: Action, deal_id: int | None = None, lookups: Lookups | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The people ``action`` addresses, and why there are none (when there are none); ``lookups`` (a batch's)
    keeps the users read."""
    lookups = lookups or Lookups()
    target = action.target or "owner"
    if "@" in target:
        return [{"email": target, "name": target}], None
    if target == "lead":
        lead = lead_snapshot(conn, contact_id)
        return ([{"email": lead["email"], "name": lead.get("name")}], None) if lead.get("email") else ([], "no email")
    owner = _owner(conn, lookups, contact_id, deal_id)
    if target == "owner":
        return ([_person(owner)], None) if owner else ([], "the lead has no owner")
    if target == "manager":
        manager = None if owner is None or owner.manager_id is None else lookups.user(conn, owner.manager_id)
        return ([_person(manager)], None) if manager else ([], "the lead's owner has no manager")
    if target == "team":
        team = action.team or (owner.team if owner else "default")
        members = [_person(u) for u in lookups.team(conn, team, available_only=True)]
        return members, None if members else f"team {team} has no available members"
    return [], f"unknown recipient {target!r} (owner, manager, team, lead or an email address)"


def notification_payload(
    conn: Connection, occ: Occurrence, action: Action, rule_name: str | None, lookups: Lookups | None = None
) -> dict[str, Any]:
    """The outbox payload of a notify action."""
    people, missing = recipients(conn, occ.contact_id, action, occ.deal_id, lookups)
    return {
        "to": people,
        "missing": missing,
        "template": action.template,
        "subject": action.subject,
        "url": action.url,
        "format": action.format,
        "trigger": occ.trigger.value,
        "rule": rule_name,
        "stage": occ.stage,
        "pipeline": occ.pipeline,
        "deal_id": occ.deal_id,
        "data": {k: _iso(v) for k, v in occ.data.items()},
        "at": occ.at.isoformat(),
        "lead": lead_snapshot(conn, occ.contact_id),
    }
