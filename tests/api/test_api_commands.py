from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _events(email: str, anon: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "page",
            "event": "page_view",
            "anonymous_id": anon,
            "timestamp": "2026-03-01T09:00:00Z",
            "properties": {"path": "/pricing", "utm_source": "google", "utm_campaign": "brand"},
        },
        {
            "type": "identify",
            "anonymous_id": anon,
            "email": email,
            "timestamp": "2026-03-01T09:05:00Z",
            "traits": {"title": "VP Sales", "company": "Acme", "employees": 200, "industry": "software"},
        },
        {"type": "track", "event": "demo_request", "email": email, "timestamp": "2026-03-01T09:10:00Z"},
    ]


def _mql(client: TestClient, keys: dict[str, str], email: str = "ada@acme.com", anon: str = "a1") -> int:
    response = client.post("/api/v1/events/batch?wait=true", headers=auth(keys["ingest"]), json=_events(email, anon))
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 3
    queue = client.get("/api/v1/queue", headers=auth(keys["sales"])).json()
    return next(item["contact_id"] for item in queue if item["email"] == email)


def test_batch_intake_reports_bad_payloads_by_index(client: TestClient, keys: dict[str, str]) -> None:
    batch = [*_events("bo@beta.io", "b1"), {"type": "track", "timestamp": "yesterday"}]
    body = client.post("/api/v1/events/batch", headers=auth(keys["ingest"]), json=batch).json()
    assert body["accepted"] == 3 and body["rejected"] == 1
    assert body["rejections"][0]["index"] == 4 and body["rejections"][0]["problems"]
    again = client.post("/api/v1/events/batch", headers=auth(keys["ingest"]), json=batch[:3]).json()
    assert again["accepted"] == 0 and again["duplicates"] == 3


def test_read_only_and_marketing_keys_cannot_accept(client: TestClient, keys: dict[str, str]) -> None:
    lead = _mql(client, keys)
    for role in ("read_only", "marketing", "ingest"):
        assert client.post(f"/api/v1/leads/{lead}/accept", headers=auth(keys[role])).status_code == 403


def test_accept_twice_conflicts_and_idempotent_replay_does_not(client: TestClient, keys: dict[str, str]) -> None:
    lead = _mql(client, keys)
    headers = auth(keys["sales"]) | {"Idempotency-Key": "accept-1"}
    first = client.post(f"/api/v1/leads/{lead}/accept", headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["to_stage"] == "sal" and first.json()["actor"] == "sales key"
    replay = client.post(f"/api/v1/leads/{lead}/accept", headers=headers)
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    second = client.post(f"/api/v1/leads/{lead}/accept", headers=auth(keys["admin"]))
    assert second.status_code == 409 and second.headers["content-type"] == "application/problem+json"


def test_reject_needs_a_playbook_reason(client: TestClient, keys: dict[str, str]) -> None:
    lead = _mql(client, keys)
    bad = client.post(f"/api/v1/leads/{lead}/reject", headers=auth(keys["sales"]), json={"reason": "meh"})
    assert bad.status_code == 422 and "meh" in bad.json()["detail"]
    ok = client.post(f"/api/v1/leads/{lead}/reject", headers=auth(keys["sales"]), json={"reason": "no_budget"})
    assert ok.status_code == 200 and ok.json()["to_stage"] == "recycled" and ok.json()["reason"] == "no_budget"


def test_from_accept_to_won_deal(client: TestClient, keys: dict[str, str]) -> None:
    lead = _mql(client, keys)
    sales = auth(keys["sales"])
    assert client.post(f"/api/v1/leads/{lead}/accept", headers=sales).status_code == 200
    bant = {"budget": "50k", "authority": "VP", "need": "pipeline visibility", "timeline": "Q3"}
    qualified = client.post(f"/api/v1/leads/{lead}/qualify", headers=sales, json={"bant": bant})
    assert qualified.status_code == 200 and qualified.json()["to_stage"] == "sql"
    deal = client.post("/api/v1/deals", headers=sales, json={"contact_id": lead, "amount": 24000, "currency": "EUR"})
    assert deal.status_code == 201, deal.text
    deal_id = deal.json()["deal_id"]
    moved = client.post(f"/api/v1/deals/{deal_id}/move", headers=sales, json={"stage": "proposal"})
    assert moved.status_code == 200 and moved.json()["stage"] == "proposal"
    won = client.post(f"/api/v1/deals/{deal_id}/win", headers=sales)
    assert won.status_code == 200 and won.json()["status"] == "won"
    stages = [
        t["to_stage"] for t in client.get(f"/api/v1/transitions?contact_id={lead}", headers=sales).json()["items"]
    ]
    assert stages[-3:] == ["sql", "opportunity", "customer"]


def test_unknown_lead_is_404(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post("/api/v1/leads/9999/accept", headers=auth(keys["sales"]))
    assert response.status_code == 404


def test_track_endpoint_takes_text_plain_beacons(client: TestClient, keys: dict[str, str]) -> None:
    import json

    body = json.dumps(
        {
            "type": "page",
            "event": "page_view",
            "anonymous_id": "web-1",
            "timestamp": "2026-03-01T08:00:00+01:00",
            "properties": {"path": "/blog/x"},
        }
    )
    response = client.post(f"/track?key={keys['ingest']}", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 202 and response.json()["accepted"] == 1
    assert response.headers["access-control-allow-origin"] == "*"
    assert client.post("/track?key=fb_wrong_key_x", content=body).status_code == 401
    assert client.post(f"/track?key={keys['ingest']}", content=b"not json").status_code == 400


def test_deferred_intake_is_scored_by_the_drainer(client: TestClient, keys: dict[str, str], runtime: Any) -> None:
    import time

    from funnelbridge.activity import pending

    response = client.post("/api/v1/events/batch", headers=auth(keys["ingest"]), json=_events("fay@phi.com", "f1"))
    assert response.status_code == 202 and response.json()["accepted"] == 3
    deadline = time.monotonic() + 30
    queue: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        queue = client.get("/api/v1/queue", headers=auth(keys["sales"])).json()
        if any(item["email"] == "fay@phi.com" for item in queue):
            break
        time.sleep(0.1)
    assert any(item["email"] == "fay@phi.com" for item in queue)
    with runtime.db.read() as conn:
        assert pending(conn) == 0
