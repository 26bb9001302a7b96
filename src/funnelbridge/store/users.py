"""Repository of users (reps, managers, admins). Functions take a Connection and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from funnelbridge.store.tables import users

__all__ = ["UserRow", "get_user", "get_user_by_email", "insert_user", "select_users", "update_user"]


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    role: str
    team: str
    manager_id: int | None
    capacity_per_week: int | None
    away: bool
    active: bool


def _row(row: Any) -> UserRow:
    m = row._mapping
    return UserRow(
        id=int(m["id"]),
        email=str(m["email"]),
        name=str(m["name"]),
        role=str(m["role"]),
        team=str(m["team"]),
        manager_id=None if m["manager_id"] is None else int(m["manager_id"]),
        capacity_per_week=m["capacity_per_week"],
        away=bool(m["away"]),
        active=bool(m["active"]),
    )


_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.name,
    users.c.role,
    users.c.team,
    users.c.manager_id,
    users.c.capacity_per_week,
    users.c.away,
    users.c.active,
)


def insert_user(
    conn: Connection,
    *,
    email: str,
    name: str,
    role: str,
    team: str,
    manager_id: int | None,
    capacity_per_week: int | None,
    created_at: datetime,
) -> int:
    values = {
        "email": email,
        "name": name,
        "role": role,
        "team": team,
        "manager_id": manager_id,
        "capacity_per_week": capacity_per_week,
        "away": False,
        "active": True,
        "created_at": created_at,
    }
    return int(conn.execute(insert(users).values(**values).returning(users.c.id)).scalar_one())


def get_user(conn: Connection, user_id: int) -> UserRow | None:
    row = conn.execute(select(*_COLUMNS).where(users.c.id == user_id)).first()
    return None if row is None else _row(row)


def get_user_by_email(conn: Connection, email: str) -> UserRow | None:
    row = conn.execute(select(*_COLUMNS).where(users.c.email == email)).first()
    return None if row is None else _row(row)


def select_users(
    conn: Connection, *, team: str | None = None, role: str | None = None, available_only: bool = False
) -> Sequence[UserRow]:
    """Users ordered by id; ``available_only`` keeps active reps who are not away."""
    query = select(*_COLUMNS).order_by(users.c.id)
    if team is not None:
        query = query.where(users.c.team == team)
    if role is not None:
        query = query.where(users.c.role == role)
    if available_only:
        query = query.where(users.c.active.is_(True), users.c.away.is_(False))
    return [_row(r) for r in conn.execute(query)]


def update_user(conn: Connection, user_id: int, **values: object) -> int:
    return conn.execute(update(users).where(users.c.id == user_id).values(**values)).rowcount
