"""The sales queue: MQLs waiting for a decision, with SLA countdown, score, grade, temperature and reasons."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from funnelbridge import lifecycle
from funnelbridge.errors import FunnelbridgeError
from funnelbridge.views import queue_cards
from funnelbridge.web.app import csrf_ok, flash, render
from funnelbridge.web.deps import WebUser, web_user

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
User = Annotated[WebUser, Depends(web_user)]


@router.get("/queue")
def queue_page(request: Request, user: User) -> Response:
    rt = request.app.state.rt
    return render(
        request,
        "queue.html",
        cards=queue_cards(rt),
        now=rt.clock.now(),
        reasons=rt.playbook.handoff.reject_reasons,
        can_decide=user.is_sales,
    )


@router.post("/queue/{contact_id}/accept")
def accept(request: Request, contact_id: int, user: User, csrf: Annotated[str, Form()]) -> Response:
    csrf_ok(request, csrf)
    user.require_sales()
    try:
        lifecycle.accept(request.app.state.rt, contact_id, user.actor())
        flash(request, f"Accepted lead {contact_id}: it is now sales accepted.")
    except FunnelbridgeError as exc:
        flash(request, f"Could not accept lead {contact_id}: {exc}", "error")
    return RedirectResponse("/queue", status_code=303)


@router.post("/queue/{contact_id}/reject")
def reject(
    request: Request, contact_id: int, user: User, csrf: Annotated[str, Form()], reason: Annotated[str, Form()]
) -> Response:
    csrf_ok(request, csrf)
    user.require_sales()
    try:
        lifecycle.reject(request.app.state.rt, contact_id, user.actor(), reason)
        flash(request, f"Rejected lead {contact_id} ({reason}): back to nurture.")
    except FunnelbridgeError as exc:
        flash(request, f"Could not reject lead {contact_id}: {exc}", "error")
    return RedirectResponse("/queue", status_code=303)
