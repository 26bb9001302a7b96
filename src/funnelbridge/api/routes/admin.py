"""Admin and meta routes: health, the active playbook, API keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from funnelbridge.api.auth import Permission, Principal, require
from funnelbridge.api.schemas import ApiKeyCreate, ApiKeyCreated
from funnelbridge.apikeys import create_api_key

__all__ = ["router"]

router = APIRouter(tags=["meta"])


@router.get("/health")
def health(request: Request) -> dict[str, str]:
    """Liveness and the active playbook version (no authentication)."""
    return {"status": "ok", "playbook_version": request.app.state.rt.playbook.version}


@router.get("/api/v1/playbook")
def get_playbook(request: Request, _who: Annotated[Principal, Depends(require(Permission.READ))]) -> dict[str, Any]:
    """The active playbook, as validated data, with its version."""
    return request.app.state.rt.playbook.model_dump(mode="json", by_alias=True)  # type: ignore[no-any-return]


@router.post("/api/v1/apikeys", status_code=201, response_model=ApiKeyCreated)
def post_api_key(
    request: Request, body: ApiKeyCreate, _who: Annotated[Principal, Depends(require(Permission.ADMIN))]
) -> ApiKeyCreated:
    """Create an API key with a role; the secret is returned once."""
    rt = request.app.state.rt
    secret, key = create_api_key(rt.db, body.name, body.role, rt.clock.now())
    return ApiKeyCreated(key=secret, prefix=key.prefix, name=key.name, role=key.role)
