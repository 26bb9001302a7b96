"""Read-only resources: contacts, accounts, deals, campaigns, transitions, outbox — paginated, filtered, sorted."""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Table, select

from funnelbridge.api.auth import Permission, Principal, require
from funnelbridge.api.schemas import MAX_ID, IdPath, Page
from funnelbridge.errors import NotFoundError
from funnelbridge.store import tables as t
from funnelbridge.store.listing import list_rows

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["resources"])

Reader = Annotated[Principal, Depends(require(Permission.READ))]

# resource name -> (table, filterable columns, sortable columns)
_RESOURCES: dict[str, tuple[Table, tuple[str, ...], tuple[str, ...]]] = {
    "contacts": (
        t.contacts,
        ("account_id", "owner_id", "first_source", "first_campaign", "country", "email"),
        ("id", "created_at", "updated_at", "email", "last_touch_at"),
    ),
    "accounts": (t.accounts, ("industry", "country", "domain", "owner_id"), ("id", "name", "employees", "created_at")),
    "deals": (
        t.deals,
        ("status", "stage", "owner_id", "contact_id", "account_id", "pipeline"),
        ("id", "amount", "opened_at", "closed_at", "expected_close"),
    ),
    "campaigns": (t.campaigns, ("channel", "source", "medium", "key"), ("id", "key", "name", "started_on")),
    "transitions": (
        t.transitions,
        ("contact_id", "pipeline", "to_stage", "from_stage", "actor", "reason"),
        ("id", "at"),
    ),
    "outbox": (t.outbox, ("status", "kind"), ("id", "created_at", "available_at", "attempts")),
}


def _page(request: Request, resource: str, sort: str | None, limit: int, offset: int) -> Page[dict[str, Any]]:
    table, filters_ok, sorts_ok = _RESOURCES[resource]
    reserved = {"sort", "limit", "offset"}
    filters = {k: v for k, v in request.query_params.items() if k not in reserved}
    with request.app.state.rt.db.read() as conn:
        page = list_rows(
            conn,
            table,
            filters=filters,
            sort=sort,
            limit=limit,
            offset=offset,
            allowed_filters=filters_ok,
            allowed_sorts=sorts_ok,
        )
    return Page[dict[str, Any]](items=page.items, total=page.total, limit=page.limit, offset=page.offset)


def _one(request: Request, table: Table, row_id: int, what: str) -> dict[str, Any]:
    with request.app.state.rt.db.read() as conn:
        row = conn.execute(select(table).where(table.c.id == row_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no {what} with id {row_id}")
    return dict(row)


def _register(resource: str) -> None:
    table, filters_ok, sorts_ok = _RESOURCES[resource]
    singular = resource.rstrip("s") if resource != "outbox" else "outbox action"

    def list_resource(
        request: Request,
        _who: Reader,
        sort: Annotated[str | None, Query(description=f"one of {', '.join(sorts_ok)}; prefix - for descending")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    ) -> Page[dict[str, Any]]:
        return _page(request, resource, sort, limit, offset)

    list_resource.__doc__ = f"List {resource}. Filter with ?column=value on: {', '.join(filters_ok)}."
    router.add_api_route(
        f"/{resource}", list_resource, methods=["GET"], name=f"list_{resource}", response_model=Page[dict[str, Any]]
    )

    def get_resource(request: Request, _who: Reader, item_id: IdPath) -> dict[str, Any]:
        return _one(request, table, item_id, singular)

    get_resource.__doc__ = f"One {singular} by id."
    router.add_api_route(f"/{resource}/{{item_id}}", get_resource, methods=["GET"], name=f"get_{resource}")


for _resource in _RESOURCES:
    _register(_resource)
