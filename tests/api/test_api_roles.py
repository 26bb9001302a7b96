"""Every endpoint, tried with every role: nobody gets what their role does not allow, and every protected
endpoint refuses an anonymous caller."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from funnelbridge.api.auth import ROLE_PERMISSIONS, Permission

PUBLIC = {"/health", "/track"}


def _permissions(route: APIRoute) -> frozenset[Permission] | None:
    for dep in route.dependant.dependencies:
        for sub in [dep, *dep.dependencies]:
            found = getattr(sub.call, "permissions", None)
            if found is not None:
                return found  # type: ignore[no-any-return]
    return None


def _walk(routes: list[Any]) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # FastAPI wraps included routers
            found += _walk(route.original_router.routes)
        elif hasattr(route, "routes"):
            found += _walk(route.routes)
    return found


def _routes(client: TestClient) -> list[tuple[str, str, APIRoute]]:
    out = []
    for route in _walk(client.app.routes):  # type: ignore[attr-defined]
        if route.include_in_schema:
            out += [(method, route.path, route) for method in sorted(route.methods - {"HEAD"})]
    assert len(out) >= 30
    return out


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    url = re.sub(r"\{[^}]+\}", "1", path)
    return client.request(method, url, headers=headers, json={} if method == "POST" else None)


def test_every_protected_route_declares_a_permission(client: TestClient) -> None:
    for _method, path, route in _routes(client):
        if path not in PUBLIC and path != "/api/v1/openapi.json":
            assert _permissions(route), f"{path} has no permission check"


@pytest.mark.parametrize("role", sorted(ROLE_PERMISSIONS))
def test_role_matrix(client: TestClient, keys: dict[str, str], role: str) -> None:
    granted = ROLE_PERMISSIONS[role]
    checked = 0
    for method, path, route in _routes(client):
        needed = _permissions(route)
        if needed is None:
            continue
        response = _call(client, method, path, {"Authorization": f"Bearer {keys[role]}"})
        if needed & granted:
            assert response.status_code not in (401, 403), f"{role} refused {method} {path}: {response.text}"
        else:
            assert response.status_code == 403, f"{role} got {response.status_code} on {method} {path}"
        assert response.status_code < 500, f"{method} {path} as {role}: {response.text}"
        checked += 1
    assert checked >= 25


def test_anonymous_callers_are_refused_everywhere(client: TestClient) -> None:
    for method, path, route in _routes(client):
        if _permissions(route) is not None:
            assert _call(client, method, path, {}).status_code == 401, f"{method} {path}"
