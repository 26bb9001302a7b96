"""Event intake: single and batch (API keys with the ingest permission), and the public ``/track`` endpoint fed by
the vendored website snippet (``/static/track.js``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from funnelbridge.api.auth import Permission, Principal, require, verified_key
from funnelbridge.errors import InputError
from funnelbridge.ingest import IngestSummary, ingest_events, parse_payload
from funnelbridge.ingest.deadletter import Problem, Rejection
from funnelbridge.ingest.groupcommit import GroupCommitter

__all__ = ["EVENTS_PATH", "ingest_one", "router", "summary_response"]

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
EVENTS_PATH = "/api/v1/events"


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


async def ingest_one(state: Any, payload: dict[str, Any], wait: bool = False) -> IngestSummary:
    """One event: validated here, stored by the group committer (shared transactions; answered once committed),
    or — with ``wait``, or when the app runs without its lifespan — stored and scored in a thread of its own.
    ``state`` is the app's state (its runtime and committer)."""
    rt = state.rt
    committer: GroupCommitter | None = getattr(state, "committer", None)
    if wait or committer is None:
        return await run_in_threadpool(ingest_events, rt, [payload], defer=not wait)
    summary = IngestSummary(received=1)
    try:
        activity = parse_payload(payload, index=1, now=rt.clock.now())
    except InputError as exc:
        summary.reject(Rejection(1, (Problem(exc.field or "payload", exc.reason),), (payload,)))
        return summary
    receipt = await committer.store([activity])
    summary.accepted, summary.duplicates = receipt.accepted, receipt.duplicates
    summary.contacts_created, summary.identified, summary.merged = (
        receipt.contacts_created,
        receipt.identified,
        receipt.merged,
    )
    summary.contacts_touched = receipt.contacts_touched
    return summary


def summary_response(summary: IngestSummary, headers: dict[str, str] | None = None) -> JSONResponse:
    """The answer to an intake request: its summary; 202, or 422 when nothing was accepted."""
    return JSONResponse(_summary(summary), status_code=_status(summary), headers=headers)


@router.post(EVENTS_PATH, status_code=202)
async def post_event(
    request: Request, _who: Ingester, payload: Annotated[dict[str, Any], Body(examples=[_EXAMPLE])], wait: Wait = False
) -> JSONResponse:
    """Ingest one event (identify, track, page, form, email). Duplicates (same idempotency key) are ignored."""
    return summary_response(await ingest_one(request.app.state, payload, wait))


@router.post("/api/v1/events/batch", status_code=202)
def post_events_batch(
    request: Request,
    _who: Ingester,
    payloads: Annotated[list[dict[str, Any]], Body(max_length=MAX_BATCH)],
    wait: Wait = False,
) -> JSONResponse:
    """Ingest up to 10,000 events; bad ones are reported by index (from 1) and set aside, the rest stored."""
    return summary_response(ingest_events(request.app.state.rt, payloads, defer=not wait))


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
    api_key = await verified_key(request, key)
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
    return summary_response(await ingest_one(request.app.state, payload), headers=_CORS)
