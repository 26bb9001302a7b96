"""The pipeline board: open deals by stage (kanban), amounts, weighted total; move, win or lose a deal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from funnelbridge import lifecycle
from funnelbridge.errors import FunnelbridgeError
from funnelbridge.views import pipeline_board
from funnelbridge.web.app import csrf_ok, flash, render
from funnelbridge.web.deps import WebUser, web_user

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
User = Annotated[WebUser, Depends(web_user)]
Csrf = Annotated[str, Form()]


@router.get("/pipeline")
def board_page(request: Request, user: User, pipeline: str | None = None) -> Response:
    rt = request.app.state.rt
    return render(
        request,
        "pipeline.html",
        board=pipeline_board(rt, pipeline),
        can_move=user.is_sales,
        loss_reasons=rt.playbook.handoff.loss_reasons,
    )


def _done(request: Request, message: str) -> Response:
    flash(request, message)
    return RedirectResponse("/pipeline", status_code=303)


def _failed(request: Request, deal_id: int, exc: FunnelbridgeError) -> Response:
    flash(request, f"Deal {deal_id}: {exc}", "error")
    return RedirectResponse("/pipeline", status_code=303)


@router.post("/pipeline/{deal_id}/move")
def move(request: Request, deal_id: int, user: User, csrf: Csrf, stage: Annotated[str, Form()]) -> Response:
    csrf_ok(request, csrf)
    user.require_sales()
    try:
        lifecycle.move_deal(request.app.state.rt, deal_id, user.actor(), stage)
    except FunnelbridgeError as exc:
        return _failed(request, deal_id, exc)
    return _done(request, f"Deal {deal_id} moved to {stage}.")


@router.post("/pipeline/{deal_id}/win")
def win(request: Request, deal_id: int, user: User, csrf: Csrf) -> Response:
    csrf_ok(request, csrf)
    user.require_sales()
    try:
        lifecycle.win_deal(request.app.state.rt, deal_id, user.actor())
    except FunnelbridgeError as exc:
        return _failed(request, deal_id, exc)
    return _done(request, f"Deal {deal_id} won: the lead is now a customer.")


@router.post("/pipeline/{deal_id}/lose")
def lose(request: Request, deal_id: int, user: User, csrf: Csrf, reason: Annotated[str, Form()]) -> Response:
    csrf_ok(request, csrf)
    user.require_sales()
    try:
        lifecycle.lose_deal(request.app.state.rt, deal_id, user.actor(), reason)
    except FunnelbridgeError as exc:
        return _failed(request, deal_id, exc)
    return _done(request, f"Deal {deal_id} lost ({reason}).")
