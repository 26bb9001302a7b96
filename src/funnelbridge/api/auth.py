"""Who is calling and what they may do: API keys (header) for programs, a signed session for the dashboard.

Roles and permissions are data: :data:`ROLE_PERMISSIONS`. Each route declares the permission it needs.

A verified API key is remembered for :data:`KEY_CACHE_SECONDS` (:class:`KeyCache`), so a busy client costs no
database read per request; a revoked key is therefore refused at most that long after its revocation. Unknown or
revoked keys are never remembered: every failed attempt is checked against the store.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from threading import Lock
from typing import Any

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from funnelbridge.apikeys import ApiKey, verify_api_key
from funnelbridge.store.db import Database

__all__ = [
    "KEY_CACHE_SECONDS",
    "ROLE_PERMISSIONS",
    "KeyCache",
    "Permission",
    "Principal",
    "RateLimiter",
    "admit",
    "bearer_token",
    "principal",
    "require",
    "verified_key",
]

KEY_CACHE_SECONDS = 1.0
"""How long a verified API key is trusted without asking the store again (the delay before a revocation bites)."""


class Permission(StrEnum):
    READ = "read"  # read contacts, deals, reports, playbook
    INGEST = "ingest"  # send events, track
    MARKETING = "marketing"  # marketing commands (imports, nurture)
    SALES = "sales"  # accept / reject / qualify / deals
    ADMIN = "admin"  # playbook apply, API keys, users, outbox retry


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "marketing": frozenset({Permission.READ, Permission.INGEST, Permission.MARKETING}),
    "sales": frozenset({Permission.READ, Permission.SALES}),
    "read_only": frozenset({Permission.READ}),
    "ingest": frozenset({Permission.INGEST}),
}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    key_id: int | None = None  # set for API keys
    user_id: int | None = None  # set for dashboard sessions

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())


@dataclass
class RateLimiter:
    """Token bucket per key: ``rate`` tokens a second, bursts up to ``burst``."""

    rate: float
    burst: int
    _buckets: dict[int, tuple[float, float]] = field(default_factory=dict)
    _lock: Lock = field(default_factory=Lock)

    def allow(self, key: int, now: float | None = None) -> tuple[bool, float]:
        """(allowed, seconds until the next token)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return True, 0.0
            self._buckets[key] = (tokens, now)
            return False, (1 - tokens) / self.rate


@dataclass
class KeyCache:
    """API keys verified in the last ``ttl`` seconds, by the SHA-256 of the presented token (a bounded map)."""

    ttl: float = KEY_CACHE_SECONDS
    limit: int = 10_000
    _keys: dict[bytes, tuple[ApiKey, float]] = field(default_factory=dict)

    def get(self, token: str, now: float | None = None) -> ApiKey | None:
        found = self._keys.get(_digest(token))
        now = time.monotonic() if now is None else now
        return found[0] if found is not None and now - found[1] < self.ttl else None

    def put(self, token: str, key: ApiKey, now: float | None = None) -> None:
        if len(self._keys) >= self.limit:
            self._keys.clear()
        self._keys[_digest(token)] = (key, time.monotonic() if now is None else now)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _lookup(db: Database, token: str) -> ApiKey | None:
    with db.read() as conn:
        return verify_api_key(conn, token)


async def verified_key(request: Request, token: str) -> ApiKey | None:
    """The active key for ``token``: remembered, or read from the store (in a worker thread) and remembered."""
    cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
    key = cache.get(token) if cache is not None else None
    if key is None:
        key = await run_in_threadpool(_lookup, request.app.state.rt.db, token)
        if key is not None and cache is not None:
            cache.put(token, key)
    return key


def bearer_token(request: Request) -> str | None:
    """The API key a request presents (``Authorization: Bearer ...`` or ``X-API-Key``), if any."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


async def principal(request: Request) -> Principal:
    """The caller, from an API key or the dashboard session; 401 when neither is valid."""
    token = bearer_token(request)
    if token:
        key = await verified_key(request, token)
        if key is None:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        return Principal(key.name, key.role, key_id=key.id)
    session = request.scope.get("session") or {}
    if session.get("user_id"):
        return Principal(session["user_name"], session["role"], user_id=session["user_id"])
    raise HTTPException(
        401,
        "authentication required: send an API key (Authorization: Bearer ...)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def admit(state: Any, who: Principal, permission: Permission) -> None:
    """Refuse (403) a caller whose role lacks ``permission``, or (429) an ingest key over its rate limit; ``state``
    is the app's state (its rate limiter)."""
    if not who.can(permission):
        raise HTTPException(403, f"role {who.role!r} may not {permission.value} (needs the {permission} permission)")
    if who.role == "ingest" and who.key_id is not None:
        allowed, wait = state.rate_limiter.allow(who.key_id)
        if not allowed:
            raise HTTPException(429, "ingest rate limit exceeded", headers={"Retry-After": f"{max(1, round(wait))}"})


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits only callers whose role grants ``permission``."""

    async def check(request: Request) -> Principal:
        who = await principal(request)  # called, not a sub-dependency: one level less to resolve per request
        admit(request.app.state, who, permission)
        return who

    check.permissions = frozenset({permission})  # type: ignore[attr-defined]  # read by the role-matrix test
    return check
