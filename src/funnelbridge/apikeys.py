"""API keys: created with a role, shown once, stored only as a SHA-256 hash (keys are 256-bit random, so a fast
hash is safe; a stolen database does not reveal usable keys)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from funnelbridge.errors import InputError, NotFoundError
from funnelbridge.store.db import Database
from funnelbridge.store.tables import api_keys

__all__ = ["ROLES", "ApiKey", "create_api_key", "list_api_keys", "revoke_api_key", "verify_api_key"]

ROLES = ("admin", "marketing", "sales", "read_only", "ingest")
_PREFIX_LEN = 8


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(db: Database, name: str, role: str, now: datetime) -> tuple[str, ApiKey]:
    """Create a key; returns the plaintext (shown once) and its record."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r} (choose from: {', '.join(ROLES)})", field="role")
    token = secrets.token_urlsafe(32)
    prefix = token[:_PREFIX_LEN]
    plaintext = f"fb_{token}"
    with db.transaction() as conn:
        key_id = conn.execute(
            api_keys.insert().values(name=name, prefix=prefix, key_hash=_hash(plaintext), role=role, created_at=now)
        ).inserted_primary_key
        assert key_id is not None
    return plaintext, ApiKey(int(key_id[0]), name, prefix, role, now, None)


def _row_to_key(row: object) -> ApiKey:
    r = row._mapping  # type: ignore[attr-defined]
    return ApiKey(r["id"], r["name"], r["prefix"], r["role"], r["created_at"], r["revoked_at"])


def verify_api_key(conn: Connection, plaintext: str) -> ApiKey | None:
    """The active key matching ``plaintext``, or None."""
    if not plaintext.startswith("fb_") or len(plaintext) < 3 + _PREFIX_LEN:
        return None
    prefix = plaintext[3 : 3 + _PREFIX_LEN]
    row = conn.execute(select(api_keys).where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))).first()
    if row is None or not hmac.compare_digest(row.key_hash, _hash(plaintext)):
        return None
    return _row_to_key(row)


def list_api_keys(db: Database) -> list[ApiKey]:
    with db.read() as conn:
        return [_row_to_key(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.id))]


def revoke_api_key(db: Database, prefix: str, now: datetime) -> None:
    with db.transaction() as conn:
        done = conn.execute(
            update(api_keys).where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None)).values(revoked_at=now)
        ).rowcount
    if not done:
        raise NotFoundError(f"no active API key with prefix {prefix!r}")
