"""One lead: stage per pipeline, scores with their explanation, timeline and deals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from funnelbridge.api.auth import Permission, Principal, require
from funnelbridge.api.encode import to_json
from funnelbridge.api.schemas import IdPath
from funnelbridge.lifecycle.view import lead_view

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["leads"])

Reader = Annotated[Principal, Depends(require(Permission.READ))]


@router.get("/leads/{contact_id}")
def get_lead(request: Request, contact_id: IdPath, _who: Reader) -> Any:
    """Everything about one lead (as `funnelbridge lead show` prints it)."""
    return to_json(lead_view(request.app.state.rt, contact_id))


@router.get("/scores/{contact_id}")
def get_scores(request: Request, contact_id: IdPath, _who: Reader) -> list[dict[str, Any]]:
    """The lead's scores (main and named groups), each with its explanation: which rule gave how many points."""
    return to_json(list(lead_view(request.app.state.rt, contact_id, events_limit=0).scores))  # type: ignore[no-any-return]
