"""Event import: rows of an events file become activities and go through the same intake as event payloads
(identity resolution, idempotency, attribution).

A row's ``type`` is either a payload type (identify, track, page, form, email — then ``event`` names track/email
activities) or a stored event type directly (``page_view``, ``asset_download``, ``email_open``). Rows without an
idempotency key get one derived from their content, so importing a file twice stores each event once.
"""

from __future__ import annotations

import re
from functools import lru_cache

from sqlalchemy import Connection

from funnelbridge.ingest.context import ImportContext, Item
from funnelbridge.ingest.events import EVENT_TYPES, Activity, derive_key, stored_type
from funnelbridge.ingest.intake import store_activities

__all__ = ["activity_of", "normalized_name", "write_events"]

_NAME = re.compile(r"^[a-z][a-z0-9_.:-]{0,99}$")


@lru_cache(maxsize=4096)
def normalized_name(text: str | None) -> str | None:
    """An event type or name in stored form (``Asset Download`` → ``asset_download``); "" when it is not a name."""
    if text is None:
        return None
    name = re.sub(r"[\s-]+", "_", text.strip().lower())
    return name if _NAME.match(name) else ""


def activity_of(item: Item) -> tuple[Activity | None, str, str]:
    """The activity of an event row, or None with the field and reason it is refused."""
    rec = item.record
    kind, event = normalized_name(rec.get("type")), normalized_name(rec.get("event"))
    if kind == "" or event == "":
        return None, "type" if kind == "" else "event", "expected a name of letters, digits and _"
    if kind in EVENT_TYPES:
        if kind in ("track", "email") and not event:
            return None, "event", f"a {kind} row needs an event name such as asset_download"
        type_ = stored_type(kind, event)
    elif kind or event:
        kind, type_ = "track", (kind or event)  # type: ignore[assignment]
    else:
        return None, "type", "missing: the event type (page_view, asset_download ...)"
    if rec.get("occurred_at") is None:
        return None, "occurred_at", "missing: when the event happened"
    email, user, anon = rec.get("email"), rec.get("user_id"), rec.get("anonymous_id")
    if not (email or user or anon):
        return None, "email", "an event needs an email, a user id or an anonymous id"
    props = rec.get("properties")
    key = rec.get("idempotency_key") or derive_key(kind, anon, email, user, type_, rec["occurred_at"], props)  # type: ignore[arg-type]
    activity = Activity(
        key,
        kind,  # type: ignore[arg-type]
        type_,
        rec["occurred_at"],
        anon,
        email,
        user,
        rec.get("path"),
        rec.get("source"),
        rec.get("medium"),
        rec.get("campaign"),
        props,
    )
    return activity, "", ""


def write_events(ctx: ImportContext, conn: Connection, items: list[Item]) -> set[int]:
    """Store one chunk of event rows; returns the contacts that got events."""
    activities = []
    for item in items:
        activity, field, reason = activity_of(item)
        if activity is None:
            ctx.refuse(item, field, reason)
        else:
            activities.append(activity)
    result = store_activities(conn, activities, ctx.now, ctx.bounds)
    ctx.summary.inserted += result.inserted
    ctx.summary.duplicates += result.duplicates
    ctx.summary.contacts_created += result.created
    ctx.summary.merged += result.merged
    return result.contact_ids if ctx.after else set()
