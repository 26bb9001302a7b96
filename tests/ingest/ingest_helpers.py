"""Helpers of the ingest suite: payload builders and store readers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import accounts, contacts, events, identities, merges


def page(anon: str | None, at: str, path: str = "/", **props: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": "page", "timestamp": at, "properties": {"path": path, **props}}
    if anon:
        payload["anonymous_id"] = anon
    return payload


def identify(anon: str | None, email: str, at: str, **traits: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": "identify", "email": email, "timestamp": at, "traits": traits}
    if anon:
        payload["anonymous_id"] = anon
    return payload


def track(event: str, at: str, *, email: str | None = None, anon: str | None = None, **props: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": "track", "event": event, "timestamp": at, "properties": props}
    if email:
        payload["email"] = email
    if anon:
        payload["anonymous_id"] = anon
    return payload


def rows(rt: Runtime, table: Any) -> list[dict[str, Any]]:
    with rt.db.read() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()]


def live_contacts(rt: Runtime) -> list[dict[str, Any]]:
    return [c for c in rows(rt, contacts) if c["merged_into"] is None]


def by_email(rt: Runtime, email: str) -> dict[str, Any]:
    return next(c for c in rows(rt, contacts) if c["email"] == email)


__all__ = [
    "accounts",
    "by_email",
    "events",
    "identify",
    "identities",
    "live_contacts",
    "merges",
    "page",
    "rows",
    "track",
]
