"""The active playbook, rendered readably."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from funnelbridge.rules.ast import AllOf, AnyOf, FieldCondition, NotOf
from funnelbridge.web.app import render
from funnelbridge.web.deps import WebUser, web_user

__all__ = ["describe", "router"]

router = APIRouter(include_in_schema=False)

_OPS = {
    "eq": "=",
    "ne": "≠",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "in": "in",
    "not_in": "not in",
    "between": "between",
    "contains": "contains",
    "matches": "matches",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "exists": "is set",
    "not_exists": "is not set",
    "is_free_email": "is a free email",
    "domain_in": "has domain in",
}


def describe(cond: object) -> str:
    """A condition in words, e.g. ``score.engagement ≥ 50 and score.fit_grade in [A, B]``."""
    if isinstance(cond, AllOf):
        return " and ".join(f"({describe(c)})" if isinstance(c, AnyOf) else describe(c) for c in cond.all) or "always"
    if isinstance(cond, AnyOf):
        return " or ".join(describe(c) for c in cond.any) or "never"
    if isinstance(cond, NotOf):
        return f"not ({describe(cond.not_)})"
    assert isinstance(cond, FieldCondition)
    name = cond.field
    if cond.event:
        name = f"{cond.field}({cond.event}" + (f", {describe(cond.where)}" if cond.where else "")
        name += f", last {cond.within})" if cond.within else ")"
    value = (
        ""
        if cond.value is None
        else " "
        + ("[" + ", ".join(map(str, cond.value)) + "]" if isinstance(cond.value, list | tuple) else str(cond.value))
    )
    return f"{name} {_OPS.get(cond.op.value, cond.op.value)}{value}"


@router.get("/playbook")
def playbook_page(request: Request, _user: Annotated[WebUser, Depends(web_user)]) -> Response:
    return render(request, "playbook.html", describe=describe)
