"""Event intake: single and batch (API keys with the ingest permission), and the public ``/track`` endpoint fed by
the vendored website snippet (``/static/track.js``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from funnelbridge.api.auth import Permission, Principal, require
from funnelbridge.apikeys import verify_api_key
from funnelbridge.ingest import IngestSummary, ingest_events

__all__ = ["router"]

router = APIRouter(tags=["events"])

Ingester = Annotated[Principal, Depends(require(Permission.INGEST))]

_EXAMPLE = {
    "type": "track",
    "event": "asset_download",
    "anonymous_id": "a1b2c3",
    "email": "ada@acme.com",
    "properties": {"path": "/whitepaper", "utm_source": "linkedin", "utm_campaign": "q3-ebook"},
    "timestamp": "2026-03-02T10:00:00+01:00",
    "idempotency_key": "evt-0001",
}
MAX_BATCH = 10_000


def _summary(summary: IngestSummary) -> dict[str, Any]:
    return {
        "received": summary.received,
        "accepted": summary.accepted,
        "duplicates": summary.duplicates,
        "rejected": summary.rejected,
        "contacts_created": summary.contacts_created,
        "identified": summary.identified,
        "merged": summary.merged,
        "rejections": [
            {"index": r.row, "problems": [{"field": p.field, "reason": p.reason} for p in r.problems]}
            for r in summary.rejections
        ],
    }


def _status(summary: IngestSummary) -> int:
    return 422 if summary.rejected and not (summary.accepted or summary.duplicates) else 202


Wait = Annotated[
    bool,
    Query(description="score and advance the contacts before answering (default: queued, done moments later)"),
]


@router.post("/api/v1/events", status_code=202)
def post_event(
    request: Request, _who: Ingester, payload: Annotated[dict[str, Any], Body(examples=[_EXAMPLE])], wait: Wait = False
) -> JSONResponse:
    """Ingest one event (identify, track, page, form, email). Duplicates (same idempotency key) are ignored."""
    summary = ingest_events(request.app.state.rt, [payload], defer=not wait)
    return JSONResponse(_summary(summary), status_code=_status(summary))


@router.post("/api/v1/events/batch", status_code=202)
def post_events_batch(
    request: Request,
    _who: Ingester,
    payloads: Annotated[list[dict[str, Any]], Body(max_length=MAX_BATCH)],
    wait: Wait = False,
) -> JSONResponse:
    """Ingest up to 10,000 events; bad ones are reported by index (from 1) and set aside, the rest stored."""
    summary = ingest_events(request.app.state.rt, payloads, defer=not wait)
    return JSONResponse(_summary(summary), status_code=_status(summary))


@router.options("/track", include_in_schema=False)
def track_preflight() -> Response:
    return Response(status_code=204, headers=_CORS)


_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
}


@router.post("/track", status_code=202)
async def track(request: Request, key: Annotated[str, Query(description="an ingest API key")]) -> Response:
    """Website tracking: one event as JSON in a text/plain or application/json body (sendBeacon-friendly)."""
    rt = request.app.state.rt
    with rt.db.read() as conn:
        api_key = verify_api_key(conn, key)
    if api_key is None or api_key.role not in ("ingest", "marketing", "admin"):
        raise HTTPException(401, "invalid tracking key")
    allowed, wait = request.app.state.rate_limiter.allow(api_key.id)
    if not allowed:
        raise HTTPException(429, "tracking rate limit exceeded", headers={"Retry-After": f"{max(1, round(wait))}"})
    try:
        payload = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "body must be one JSON object") from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "body must be one JSON object")
    summary = ingest_events(rt, [payload], defer=True)
    return JSONResponse(_summary(summary), status_code=_status(summary), headers=_CORS)
