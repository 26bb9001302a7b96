"""Playbook planning routes: preview a proposed playbook against history (plan) and activate it (apply).

The proposed playbook travels as YAML text in the JSON body, exactly as it would sit in git; it is validated
first, so a broken one is refused with its line and field (422) and changes nothing.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from funnelbridge.api.auth import Permission, Principal, require
from funnelbridge.domain.clock import as_utc

__all__ = ["router"]

router = APIRouter(tags=["playbook"])

MAX_PLAYBOOK_CHARS = 1_000_000


class PlanRequest(BaseModel):
    playbook: str = Field(min_length=1, max_length=MAX_PLAYBOOK_CHARS, description="The proposed playbook (YAML).")
    since: datetime | None = Field(
        default=None, description="Count would-be MQLs entering from this time (ISO 8601; no zone means UTC)."
    )


class ApplyRequest(BaseModel):
    playbook: str = Field(min_length=1, max_length=MAX_PLAYBOOK_CHARS, description="The playbook to activate (YAML).")


def _plain(data: Any) -> dict[str, Any]:
    return json.loads(json.dumps(data, default=str))  # type: ignore[no-any-return]


@router.post("/api/v1/playbook/plan")
def post_plan(
    request: Request, body: PlanRequest, _who: Annotated[Principal, Depends(require(Permission.READ))]
) -> dict[str, Any]:
    """Replay history under the proposed playbook, side by side with the active one: leads per grade and
    temperature, would-be MQLs, their later conversion, the weekly SLA load, and the leads entering or leaving
    MQL. Nothing is stored."""
    from funnelbridge.planning import plan_playbook
    from funnelbridge.playbook.loader import parse_playbook

    proposed = parse_playbook(body.playbook, source="request body")
    report = plan_playbook(request.app.state.rt, proposed, as_utc(body.since) if body.since else None)
    data = asdict(report)
    for side in ("current", "proposed"):
        data[side].pop("mql_ids")
    return _plain(data)


@router.post("/api/v1/playbook/apply")
def post_apply(
    request: Request, body: ApplyRequest, _who: Annotated[Principal, Depends(require(Permission.ADMIN))]
) -> dict[str, Any]:
    """Activate the playbook: write it over the active playbook file, record its version and rescore every lead.
    The server (and its background drainer) use it from the next request on."""
    from funnelbridge.planning.apply import apply_playbook
    from funnelbridge.playbook.loader import parse_playbook

    parse_playbook(body.playbook, source="request body")  # refuse a broken playbook before touching anything
    app = request.app
    active = Path(app.state.settings.playbook)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "proposed.yaml"
        source.write_text(body.playbook, encoding="utf-8")
        result = apply_playbook(app.state.rt, source, active)
        proposed = parse_playbook(body.playbook, source=str(active))
    app.state.rt = replace(app.state.rt, playbook=proposed)
    drainer = getattr(app.state, "drainer", None)
    if drainer is not None:
        drainer.rt = app.state.rt
    return _plain(asdict(result))
