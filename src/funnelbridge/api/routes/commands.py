"""Commands on leads and deals: accept / reject / qualify / disqualify / advocate, open / move / win / lose, and
the sales queue. Every command takes an optional ``Idempotency-Key`` header: replaying it changes nothing."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, Field

from funnelbridge import lifecycle
from funnelbridge.api.auth import Permission, Principal, principal, require
from funnelbridge.api.encode import to_json
from funnelbridge.api.schemas import IdPath
from funnelbridge.lifecycle import Actor

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["commands"])

Sales = Annotated[Principal, Depends(require(Permission.SALES))]
Reader = Annotated[Principal, Depends(require(Permission.READ))]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _actor(who: Principal) -> Actor:
    role = who.role if who.role in ("admin", "marketing", "sales") else "system"
    return Actor(who.name, role)  # type: ignore[arg-type]


def _either_team(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not (who.can(Permission.SALES) or who.can(Permission.MARKETING)):
        raise HTTPException(403, f"role {who.role!r} may not change a lead's stage")
    return who


_either_team.permissions = frozenset({Permission.SALES, Permission.MARKETING})  # type: ignore[attr-defined]
EitherTeam = Annotated[Principal, Depends(_either_team)]


class Note(BaseModel):
    note: str | None = Field(default=None, max_length=2000)
    pipeline: str | None = None


class WithReason(Note):
    reason: str = Field(min_length=1, max_length=100, description="one of the playbook's reasons")


class Bant(Note):
    bant: dict[str, str | None] = Field(description="budget, authority, need, timeline")


class DealOpen(BaseModel):
    contact_id: int = Field(ge=1, le=2**53)
    amount: float = Field(ge=0)
    currency: str = Field(default="USD", min_length=3, max_length=3)
    expected_close: date | None = None
    name: str | None = Field(default=None, max_length=300)
    stage: str | None = None
    probability: float | None = Field(default=None, ge=0, le=1)
    pipeline: str | None = None


class DealMove(BaseModel):
    stage: str
    probability: float | None = Field(default=None, ge=0, le=1)
    amount: float | None = Field(default=None, ge=0)
    reason: str | None = None


class DealWin(BaseModel):
    amount: float | None = Field(default=None, ge=0)
    note: str | None = None


class DealLose(BaseModel):
    reason: str = Field(min_length=1, max_length=100)
    competitor: str | None = Field(default=None, max_length=200)


@router.get("/queue")
def get_queue(request: Request, _who: Reader, pipeline: str | None = None) -> list[dict[str, Any]]:
    """MQLs waiting for a sales decision, oldest first, with the SLA time left (seconds; negative = breached)."""
    return [
        to_json(item) | {"breached": item.breached} for item in lifecycle.sales_queue(request.app.state.rt, pipeline)
    ]


@router.post("/leads/{contact_id}/accept")
def post_accept(request: Request, contact_id: IdPath, who: Sales, body: Note | None = None, key: IdemKey = None) -> Any:
    """A rep takes the MQL (→ SAL). A concurrent second accept answers 409."""
    body = body or Note()
    return to_json(
        lifecycle.accept(
            request.app.state.rt, contact_id, _actor(who), pipeline=body.pipeline, note=body.note, idempotency_key=key
        )
    )


@router.post("/leads/{contact_id}/reject")
def post_reject(request: Request, contact_id: IdPath, who: Sales, body: WithReason, key: IdemKey = None) -> Any:
    """A rep sends the MQL back to nurture with a reason (→ recycled)."""
    return to_json(
        lifecycle.reject(
            request.app.state.rt,
            contact_id,
            _actor(who),
            body.reason,
            pipeline=body.pipeline,
            note=body.note,
            idempotency_key=key,
        )
    )


@router.post("/leads/{contact_id}/qualify")
def post_qualify(request: Request, contact_id: IdPath, who: Sales, body: Bant, key: IdemKey = None) -> Any:
    """Record BANT and move the lead to SQL."""
    return to_json(
        lifecycle.qualify(
            request.app.state.rt,
            contact_id,
            _actor(who),
            body.bant,
            pipeline=body.pipeline,
            note=body.note,
            idempotency_key=key,
        )
    )


@router.post("/leads/{contact_id}/disqualify")
def post_disqualify(
    request: Request, contact_id: IdPath, who: EitherTeam, body: WithReason, key: IdemKey = None
) -> Any:
    """Disqualify from any stage with a reason (marketing or sales)."""
    return to_json(
        lifecycle.disqualify(
            request.app.state.rt,
            contact_id,
            _actor(who),
            body.reason,
            pipeline=body.pipeline,
            note=body.note,
            idempotency_key=key,
        )
    )


@router.post("/leads/{contact_id}/advocate")
def post_advocate(
    request: Request, contact_id: IdPath, who: EitherTeam, body: Note | None = None, key: IdemKey = None
) -> Any:
    """A customer advocates (→ evangelist)."""
    body = body or Note()
    return to_json(
        lifecycle.advocate(
            request.app.state.rt, contact_id, _actor(who), pipeline=body.pipeline, note=body.note, idempotency_key=key
        )
    )


@router.post("/deals", status_code=201)
def post_deal(request: Request, who: Sales, body: DealOpen, key: IdemKey = None) -> Any:
    """Open a deal for an SQL (→ opportunity)."""
    return to_json(
        lifecycle.open_deal(
            request.app.state.rt,
            body.contact_id,
            _actor(who),
            amount=body.amount,
            currency=body.currency,
            expected_close=body.expected_close,
            name=body.name,
            stage=body.stage,
            probability=body.probability,
            pipeline=body.pipeline,
            idempotency_key=key,
        )
    )


@router.post("/deals/{deal_id}/move")
def post_deal_move(request: Request, deal_id: IdPath, who: Sales, body: DealMove, key: IdemKey = None) -> Any:
    """Move an open deal to another pipeline stage."""
    return to_json(
        lifecycle.move_deal(
            request.app.state.rt,
            deal_id,
            _actor(who),
            body.stage,
            probability=body.probability,
            amount=body.amount,
            reason=body.reason,
            idempotency_key=key,
        )
    )


@router.post("/deals/{deal_id}/win")
def post_deal_win(
    request: Request, deal_id: IdPath, who: Sales, body: DealWin | None = None, key: IdemKey = None
) -> Any:
    """Close the deal as won (the lead becomes a customer)."""
    body = body or DealWin()
    return to_json(
        lifecycle.win_deal(
            request.app.state.rt, deal_id, _actor(who), amount=body.amount, note=body.note, idempotency_key=key
        )
    )


@router.post("/deals/{deal_id}/lose")
def post_deal_lose(request: Request, deal_id: IdPath, who: Sales, body: DealLose, key: IdemKey = None) -> Any:
    """Close the deal as lost with a reason (and competitor); the lead recycles after the cool-down."""
    return to_json(
        lifecycle.lose_deal(
            request.app.state.rt, deal_id, _actor(who), body.reason, body.competitor, idempotency_key=key
        )
    )
