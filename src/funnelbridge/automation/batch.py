"""Automation for many stage moves at once: what the handlers of a batch of moves write is collected and stored with
one executemany per table when the batch ends, and what they read again and again is read once.

Inside :meth:`Scope` (opened by :meth:`funnelbridge.automation.Engine.batched` around the publishing of a batch of
moves, e.g. :func:`funnelbridge.lifecycle.batch.write_moves`):

- outbox rows (notifications, move requests) and timers (SLA clocks, nurture steps) are buffered in the order they
  would have been inserted one by one, and inserted when the scope ends — outbox rows with one executemany, timers
  with one; timer cancellations (leaving a stage with an SLA clock, unenrolling) with one executemany before them.
  A cancellation that would touch a buffered timer stores the buffer first, so the order of effects is kept;
- users (owners, managers, a routing team's available reps) are read once per batch — nothing in automation
  changes users — and a routing team's weekly load and round-robin pointer are read once and then kept up to date
  in memory as the batch assigns leads;
- the lead facts the caller already has (the activity flow's scoring read them) answer conditions on contact,
  account and BANT fields, and on ``events.*`` values the facts carry as aggregates (see
  :meth:`funnelbridge.automation.conditions.ConditionChecker.seed`).

The result — rows, ids, order — is the one the handlers give move by move: the buffered tables are read by nothing
else during a batch (routing reads assignments and owners, which it writes at once), and ids follow insertion order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from funnelbridge.store import raw_rows
from funnelbridge.store.outbox import insert_ignore
from funnelbridge.store.tables import contacts, outbox, timers
from funnelbridge.store.timers import cancel_by_prefix, cancel_many, cancel_params, insert_timer
from funnelbridge.store.users import UserRow, get_user, select_users

__all__ = ["Lookups", "Scope", "Writes", "cancel_timers", "schedule_timer"]


@dataclass
class Writes:
    """Outbox rows, timers and timer cancellations of a batch, stored together by :meth:`flush`."""

    outbox: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    cancels: list[tuple[str, datetime]] = field(default_factory=list)

    def add_outbox(self, values: dict[str, Any]) -> None:
        self.outbox.append(values)

    def add_timer(self, values: dict[str, Any]) -> None:
        self.timers.append(values)

    def cancel(self, conn: Connection, prefix: str, at: datetime) -> None:
        """Cancel the pending timers whose key starts with ``prefix`` (at the flush; at once when a buffered timer
        has such a key, so that it is cancelled too, as it would have been one by one)."""
        if any(str(t["key"]).startswith(prefix) for t in self.timers):
            self.flush(conn)
        self.cancels.append((prefix, at))

    def flush(self, conn: Connection) -> None:
        """Store everything buffered: cancellations, then timers, then outbox rows (each in buffered order)."""
        if self.cancels:
            cancel_many(conn, [cancel_params(prefix, at) for prefix, at in self.cancels])
        if self.timers:
            insert_ignore(conn, timers, self.timers, "key")
        if self.outbox:
            insert_ignore(conn, outbox, self.outbox, "idempotency_key")
        self.cancels, self.timers, self.outbox = [], [], []


def schedule_timer(
    conn: Connection,
    writes: Writes | None,
    *,
    key: str,
    kind: str,
    due_at: datetime,
    contact_id: int | None,
    payload: Mapping[str, Any],
) -> int:
    """Schedule a timer now (``writes`` None; 1 when it is new) or in the batch's buffer (1: buffered)."""
    if writes is None:
        return int(insert_timer(conn, key=key, kind=kind, due_at=due_at, contact_id=contact_id, payload=payload))
    values = {"key": key, "kind": kind, "due_at": due_at, "contact_id": contact_id, "deal_id": None}
    writes.add_timer({**values, "payload": dict(payload), "fired_at": None})
    return 1


def cancel_timers(conn: Connection, writes: Writes | None, prefix: str, at: datetime) -> int:
    """Cancel pending timers by key prefix now (returns how many) or with the batch (returns 0)."""
    if writes is None:
        return cancel_by_prefix(conn, prefix, at)
    writes.cancel(conn, prefix, at)
    return 0


_OWNER = select(contacts.c.owner_id).where(contacts.c.id == bindparam("cid"))


@dataclass
class Lookups:
    """Reads a batch repeats, done once: users by id, a team's available reps, and the routing state of a team
    (weekly load per rep, the last rep assigned) — kept up to date by :meth:`assigned`."""

    users: dict[int, UserRow | None] = field(default_factory=dict)
    teams: dict[tuple[str | None, str | None, bool], Sequence[UserRow]] = field(default_factory=dict)
    load: dict[tuple[tuple[int, ...], datetime], dict[int, int]] = field(default_factory=dict)
    last_in_team: dict[str, int | None] = field(default_factory=dict)
    locked: set[str] = field(default_factory=set)
    owners: dict[int, int | None] = field(default_factory=dict)

    def owner_id(self, conn: Connection, contact_id: int) -> int | None:
        """The lead's owner (``contacts.owner_id``; in a batch only routing changes it, through :meth:`assigned`)."""
        if contact_id not in self.owners:
            found = raw_rows.rows(conn, _OWNER, {"cid": contact_id})  # a plain read: per lead on the hot path
            owner = found[0][0] if found else None
            self.owners[contact_id] = None if owner is None else int(owner)
        return self.owners[contact_id]

    def user(self, conn: Connection, user_id: int) -> UserRow | None:
        if user_id not in self.users:
            self.users[user_id] = get_user(conn, user_id)
        return self.users[user_id]

    def team(
        self, conn: Connection, team: str | None, role: str | None = None, *, available_only: bool = False
    ) -> Sequence[UserRow]:
        key = (team, role, available_only)
        if key not in self.teams:
            self.teams[key] = select_users(conn, team=team, role=role, available_only=available_only)
        return self.teams[key]

    def assigned(self, contact_id: int, user_id: int, team: str) -> None:
        """The lead went to ``user_id`` of ``team``: its owner, one more in the rep's weekly load, the team's
        round-robin pointer."""
        self.owners[contact_id] = user_id
        for load in self.load.values():
            if user_id in load:
                load[user_id] += 1
        self.last_in_team[team] = user_id


@dataclass
class Scope:
    """One batch's buffered writes, shared reads and known lead facts (see the module docstring)."""

    writes: Writes = field(default_factory=Writes)
    lookups: Lookups = field(default_factory=Lookups)
    facts: Mapping[int, Any] = field(default_factory=dict)
