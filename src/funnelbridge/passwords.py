"""Dashboard passwords: scrypt hashes (stdlib), verified in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import select

from funnelbridge.errors import InputError, NotFoundError
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import users
from funnelbridge.store.users import UserRow, get_user_by_email, update_user

__all__ = ["authenticate", "hash_password", "set_password", "verify_password"]

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt_b64, digest_b64 = stored.split("$", 2)
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=_N, r=_R, p=_P, dklen=32)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def set_password(rt: Runtime, email: str, password: str) -> None:
    """Give a user a dashboard password (at least 8 characters)."""
    if len(password) < 8:
        raise InputError("a password needs at least 8 characters", record=email, field="password")
    with rt.db.transaction() as conn:
        user = get_user_by_email(conn, email.strip().lower())
        if user is None:
            raise NotFoundError(f"user {email} does not exist")
        update_user(conn, user.id, password_hash=hash_password(password))


def authenticate(rt: Runtime, email: str, password: str) -> UserRow | None:
    """The active user with this email and password, or None."""
    with rt.db.read() as conn:
        user = get_user_by_email(conn, email.strip().lower())
        query = select(users.c.password_hash).where(users.c.id == (user.id if user else -1))
        stored = conn.execute(query).scalar_one_or_none()
    if user is None or not user.active or not verify_password(password, stored):
        return None
    return user
