"""Routing: pick an owner for a lead by the playbook's routing rules — round-robin within a team, least-loaded,
or the account's owner — skipping reps who are away or inactive and reps at their weekly capacity.

The round-robin pointer is the team's latest row in ``assignments`` (so it survives restarts and is shared by
every process); weekly load counts a rep's assignments since Monday 00:00 in the playbook's time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, func, insert, select, update

from funnelbridge.automation.conditions import ConditionChecker
from funnelbridge.playbook.schema import Playbook, RoutingRule
from funnelbridge.store.tables import accounts, assignments, contacts, pipeline_states, users
from funnelbridge.store.users import UserRow, get_user, select_users

__all__ = ["Assignment", "assign_lead", "choose_owner", "week_start"]


@dataclass(frozen=True)
class Assignment:
    """Who got the lead, from which team, how."""

    contact_id: int
    user_id: int
    email: str
    team: str
    method: str
    kept: bool = False


def week_start(at: datetime, tz: str) -> datetime:
    """Monday 00:00 of ``at``'s week in ``tz``, as UTC."""
    local = at.astimezone(ZoneInfo(tz)).date()
    monday = local - timedelta(days=local.weekday())
    return datetime.combine(monday, time(0), ZoneInfo(tz)).astimezone(UTC)


# Statements built once with bind parameters (routing runs per lead on the activity flow's hot path).
_A = assignments.c
_LOAD = (
    select(_A.user_id, func.count())
    .where(_A.user_id.in_(bindparam("uids", expanding=True)), _A.at >= bindparam("since"))
    .group_by(_A.user_id)
)
_LAST_IN_TEAM = select(_A.user_id).where(_A.team == bindparam("team")).order_by(_A.id.desc()).limit(1)
_ACCOUNT_OWNER = (
    select(accounts.c.owner_id)
    .join(contacts, contacts.c.account_id == accounts.c.id)
    .where(contacts.c.id == bindparam("cid"))
)
_LEAD_OWNER = select(contacts.c.owner_id).where(contacts.c.id == bindparam("cid"))
_ASSIGN = insert(assignments)
_SET_OWNER = update(contacts).where(contacts.c.id == bindparam("cid")).values(owner_id=bindparam("uid"))
_SET_STATE_OWNER = (
    update(pipeline_states).where(pipeline_states.c.contact_id == bindparam("cid")).values(owner_id=bindparam("uid"))
)


def _weekly_load(conn: Connection, user_ids: Sequence[int], since: datetime) -> dict[int, int]:
    if not user_ids:
        return {}
    load = dict.fromkeys(user_ids, 0)
    load.update({int(uid): int(n) for uid, n in conn.execute(_LOAD, {"uids": list(user_ids), "since": since})})
    return load


def _candidates(conn: Connection, rule: RoutingRule, since: datetime) -> tuple[list[UserRow], dict[int, int]]:
    if conn.dialect.name == "postgresql":  # serialize concurrent routing within a team
        conn.execute(select(users.c.id).where(users.c.team == rule.team).with_for_update())
    reps = list(select_users(conn, team=rule.team, role="sales", available_only=True))
    load = _weekly_load(conn, [r.id for r in reps], since)
    free = [r for r in reps if load[r.id] < (r.capacity_per_week or rule.capacity_per_week or 10**9)]
    return free, load


def _round_robin(conn: Connection, team: str, free: list[UserRow]) -> UserRow:
    last = conn.execute(_LAST_IN_TEAM, {"team": team}).scalar()
    after = [r for r in free if last is not None and r.id > last]
    return after[0] if after else free[0]


def _account_owner(conn: Connection, contact_id: int) -> UserRow | None:
    owner_id = conn.execute(_ACCOUNT_OWNER, {"cid": contact_id}).scalar()
    owner = None if owner_id is None else get_user(conn, int(owner_id))
    return owner if owner is not None and owner.active and not owner.away else None


def choose_owner(
    conn: Connection, playbook: Playbook, contact_id: int, at: datetime, checker: ConditionChecker
) -> tuple[UserRow, RoutingRule, str] | None:
    """The rep the first matching routing rule picks (None when no rule matches or every rep is unavailable)."""
    since = week_start(at, playbook.timezone)
    for rule in playbook.routing:
        if not checker.holds(conn, rule.when, contact_id, at):
            continue
        if rule.assign == "account_owner":
            owner = _account_owner(conn, contact_id)
            if owner is not None:
                return owner, rule, "account_owner"
        free, load = _candidates(conn, rule, since)
        if not free:
            continue
        if rule.assign == "least_loaded":
            return min(free, key=lambda r: (load[r.id], r.id)), rule, "least_loaded"
        return _round_robin(conn, rule.team, free), rule, "round_robin"
    return None


def _current_owner(conn: Connection, contact_id: int) -> UserRow | None:
    owner_id = conn.execute(_LEAD_OWNER, {"cid": contact_id}).scalar()
    owner = None if owner_id is None else get_user(conn, int(owner_id))
    return owner if owner is not None and owner.active and not owner.away else None


def assign_lead(
    conn: Connection, playbook: Playbook, contact_id: int, at: datetime, checker: ConditionChecker
) -> Assignment | None:
    """Route the lead and record the assignment (contacts.owner_id, pipeline_states.owner_id, assignments).

    A lead that already has an available owner keeps them (sticky ownership across journeys)."""
    current = _current_owner(conn, contact_id)
    if current is not None:
        return Assignment(contact_id, current.id, current.email, current.team, "kept", kept=True)
    choice = choose_owner(conn, playbook, contact_id, at, checker)
    if choice is None:
        return None
    user, rule, method = choice
    row = {"contact_id": contact_id, "user_id": user.id, "team": rule.team, "method": method, "at": at}
    conn.execute(_ASSIGN, {**row, "playbook_version": playbook.version or "unknown"})
    conn.execute(_SET_OWNER, {"cid": contact_id, "uid": user.id})
    conn.execute(_SET_STATE_OWNER, {"cid": contact_id, "uid": user.id})
    checker.forget(contact_id)
    return Assignment(contact_id, user.id, user.email, rule.team, method)
