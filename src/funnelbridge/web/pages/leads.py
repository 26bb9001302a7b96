"""The lead page: timeline of events and transitions, score breakdown, owner, deals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from funnelbridge.lifecycle.view import lead_view
from funnelbridge.web.app import render
from funnelbridge.web.deps import WebUser, web_user

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/leads/{contact_id}")
def lead_page(request: Request, contact_id: int, _user: Annotated[WebUser, Depends(web_user)]) -> Response:
    view = lead_view(request.app.state.rt, contact_id, events_limit=200)
    return render(request, "lead.html", view=view, timeline=list(reversed(view.timeline)))
