"""Users: the reps, managers and admins that leads are routed to. Each function owns its transaction."""

from __future__ import annotations

from collections.abc import Sequence

from funnelbridge.errors import InputError, NotFoundError
from funnelbridge.runtime import Runtime
from funnelbridge.store.users import UserRow, get_user_by_email, insert_user, select_users, update_user

__all__ = ["ROLES", "UserRow", "add_user", "list_users", "set_away"]

ROLES = ("admin", "marketing", "sales", "read_only")


def _normalize_email(email: str) -> str:
    value = email.strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@"):
        raise InputError("not an email address", record=email, field="email")
    return value


def add_user(
    rt: Runtime,
    email: str,
    name: str,
    role: str,
    team: str = "default",
    manager_email: str | None = None,
    capacity_per_week: int | None = None,
) -> int:
    """Create a user and return its id. The manager, when given, must exist already."""
    email = _normalize_email(email)
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}", record=email, field="role")
    if capacity_per_week is not None and capacity_per_week <= 0:
        raise InputError("capacity_per_week must be positive", record=email, field="capacity_per_week")
    with rt.db.transaction() as conn:
        if get_user_by_email(conn, email) is not None:
            raise InputError("a user with this email exists already", record=email, field="email")
        manager_id = None
        if manager_email is not None:
            manager = get_user_by_email(conn, _normalize_email(manager_email))
            if manager is None:
                raise NotFoundError(f"manager {manager_email} does not exist; add them first")
            manager_id = manager.id
        return insert_user(
            conn,
            email=email,
            name=name,
            role=role,
            team=team,
            manager_id=manager_id,
            capacity_per_week=capacity_per_week,
            created_at=rt.clock.now(),
        )


def list_users(rt: Runtime, *, team: str | None = None, role: str | None = None) -> Sequence[UserRow]:
    """All users (optionally of one team or role), ordered by id."""
    with rt.db.read() as conn:
        return select_users(conn, team=team, role=role)


def set_away(rt: Runtime, email: str, away: bool = True) -> UserRow:
    """Mark a rep away (routing skips them) or back; returns the updated user."""
    email = _normalize_email(email)
    with rt.db.transaction() as conn:
        user = get_user_by_email(conn, email)
        if user is None:
            raise NotFoundError(f"user {email} does not exist")
        update_user(conn, user.id, away=away)
        updated = get_user_by_email(conn, email)
        assert updated is not None
        return updated
