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

from funnelbridge.automation.batch import Lookups
from funnelbridge.automation.conditions import ConditionChecker
from funnelbridge.playbook.schema import Playbook, RoutingRule
from funnelbridge.store import raw_rows
from funnelbridge.store.tables import accounts, assignments, contacts, pipeline_states, users
from funnelbridge.store.users import UserRow

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


def _candidates(
    conn: Connection, rule: RoutingRule, since: datetime, lookups: Lookups
) -> tuple[list[UserRow], dict[int, int]]:
    if conn.dialect.name == "postgresql" and rule.team not in lookups.locked:  # serialize routing within a team
        conn.execute(select(users.c.id).where(users.c.team == rule.team).with_for_update())
        lookups.locked.add(rule.team)
    reps = list(lookups.team(conn, rule.team, "sales", available_only=True))
    key = (tuple(r.id for r in reps), since)
    load = lookups.load.get(key)
    if load is None:
        load = lookups.load[key] = _weekly_load(conn, [r.id for r in reps], since)
    free = [r for r in reps if load[r.id] < (r.capacity_per_week or rule.capacity_per_week or 10**9)]
    return free, load


def _round_robin(conn: Connection, team: str, free: list[UserRow], lookups: Lookups) -> UserRow:
    if team not in lookups.last_in_team:
        lookups.last_in_team[team] = conn.execute(_LAST_IN_TEAM, {"team": team}).scalar()
    last = lookups.last_in_team[team]
    after = [r for r in free if last is not None and r.id > last]
    return after[0] if after else free[0]


def _available(owner_id: object, conn: Connection, lookups: Lookups) -> UserRow | None:
    owner = None if owner_id is None else lookups.user(conn, int(str(owner_id)))
    return owner if owner is not None and owner.active and not owner.away else None


def _account_owner(conn: Connection, contact_id: int, lookups: Lookups) -> UserRow | None:
    found = raw_rows.rows(conn, _ACCOUNT_OWNER, {"cid": contact_id})
    return _available(found[0][0] if found else None, conn, lookups)


def choose_owner(
    conn: Connection,
    playbook: Playbook,
    contact_id: int,
    at: datetime,
    checker: ConditionChecker,
    lookups: Lookups | None = None,
) -> tuple[UserRow, RoutingRule, str] | None:
    """The rep the first matching routing rule picks (None when no rule matches or every rep is unavailable).
    ``lookups`` (a batch's) keeps users, team loads and round-robin pointers between calls."""
    lookups = lookups or Lookups()
    since = week_start(at, playbook.timezone)
    for rule in playbook.routing:
        if not checker.holds(conn, rule.when, contact_id, at):
            continue
        if rule.assign == "account_owner":
            owner = _account_owner(conn, contact_id, lookups)
            if owner is not None:
                return owner, rule, "account_owner"
        free, load = _candidates(conn, rule, since, lookups)
        if not free:
            continue
        if rule.assign == "least_loaded":
            return min(free, key=lambda r: (load[r.id], r.id)), rule, "least_loaded"
        return _round_robin(conn, rule.team, free, lookups), rule, "round_robin"
    return None


def assign_lead(
    conn: Connection,
    playbook: Playbook,
    contact_id: int,
    at: datetime,
    checker: ConditionChecker,
    lookups: Lookups | None = None,
) -> Assignment | None:
    """Route the lead and record the assignment (contacts.owner_id, pipeline_states.owner_id, assignments).

    A lead that already has an available owner keeps them (sticky ownership across journeys). ``lookups`` as for
    :func:`choose_owner` (an assignment made here updates its loads and pointers)."""
    lookups = lookups or Lookups()
    current = _available(lookups.owner_id(conn, contact_id), conn, lookups)
    if current is not None:
        return Assignment(contact_id, current.id, current.email, current.team, "kept", kept=True)
    choice = choose_owner(conn, playbook, contact_id, at, checker, lookups)
    if choice is None:
        return None
    user, rule, method = choice
    row = {"contact_id": contact_id, "user_id": user.id, "team": rule.team, "method": method, "at": at}
    conn.execute(_ASSIGN, {**row, "playbook_version": playbook.version or "unknown"})
    conn.execute(_SET_OWNER, {"cid": contact_id, "uid": user.id})
    conn.execute(_SET_STATE_OWNER, {"cid": contact_id, "uid": user.id})
    checker.forget(contact_id)
    lookups.assigned(contact_id, user.id, rule.team)
    return Assignment(contact_id, user.id, user.email, rule.team, method)
