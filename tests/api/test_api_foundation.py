from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import insert

from funnelbridge.api.auth import RateLimiter
from funnelbridge.runtime import Runtime
from funnelbridge.store import tables as t

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["title"] and body["detail"]
    return body  # type: ignore[no-any-return]


def test_health_needs_no_key(client: TestClient, runtime: Runtime) -> None:
    assert client.get("/health").json() == {"status": "ok", "playbook_version": runtime.playbook.version}


def test_missing_and_bad_keys_get_401_problems(client: TestClient) -> None:
    assert "authentication required" in _problem(client.get("/api/v1/contacts"), 401)["detail"]
    assert "invalid or revoked" in _problem(client.get("/api/v1/contacts", headers=auth("fb_nope_nope")), 401)["detail"]


def test_ingest_only_key_cannot_read(client: TestClient, keys: dict[str, str]) -> None:
    body = _problem(client.get("/api/v1/contacts", headers=auth(keys["ingest"])), 403)
    assert "role 'ingest' may not read" in str(body["detail"])


def test_lists_paginate_filter_and_sort(client: TestClient, keys: dict[str, str], runtime: Runtime) -> None:
    with runtime.db.transaction() as conn:
        for i in range(7):
            conn.execute(
                insert(t.contacts).values(
                    email=f"p{i}@acme.test", country="DE" if i % 2 else "US", created_at=NOW, updated_at=NOW
                )
            )
    page = client.get("/api/v1/contacts?limit=2&offset=1&sort=-id", headers=auth(keys["read_only"])).json()
    assert page["total"] == 7 and page["limit"] == 2 and page["offset"] == 1
    assert [c["email"] for c in page["items"]] == ["p5@acme.test", "p4@acme.test"]
    de = client.get("/api/v1/contacts?country=DE", headers=auth(keys["sales"])).json()
    assert de["total"] == 3
    bad = _problem(client.get("/api/v1/contacts?password=x", headers=auth(keys["admin"])), 422)
    assert "cannot filter on 'password'" in str(bad["detail"]) and bad["field"] == "password"
    assert _problem(client.get("/api/v1/contacts?limit=0", headers=auth(keys["admin"])), 422)["errors"]


def test_one_resource_and_not_found(client: TestClient, keys: dict[str, str]) -> None:
    body = _problem(client.get("/api/v1/deals/999", headers=auth(keys["admin"])), 404)
    assert body["detail"] == "no deal with id 999" and body["type"] == "/problems/not-found"


def test_oversized_body_is_refused_with_413(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post("/api/v1/apikeys", headers=auth(keys["admin"]), content=b"x" * 5000)
    assert "exceeds 2048 bytes" in _problem(response, 413)["detail"]


def test_admin_creates_keys_others_cannot(client: TestClient, keys: dict[str, str]) -> None:
    created = client.post("/api/v1/apikeys", headers=auth(keys["admin"]), json={"name": "site", "role": "ingest"})
    assert created.status_code == 201 and created.json()["key"].startswith("fb_")
    _problem(client.post("/api/v1/apikeys", headers=auth(keys["marketing"]), json={"name": "x", "role": "admin"}), 403)


def test_openapi_schema_is_served(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/contacts" in schema["paths"]


def test_rate_limiter_token_bucket() -> None:
    limiter = RateLimiter(rate=2.0, burst=2)
    assert limiter.allow(1, now=0.0)[0] and limiter.allow(1, now=0.0)[0]
    allowed, wait = limiter.allow(1, now=0.0)
    assert not allowed and wait == 0.5
    assert limiter.allow(1, now=0.5)[0]
    assert limiter.allow(2, now=0.0)[0]
