"""Single-event intake through the group committer: answers, duplicates, validation problems, the rate limit for
ingest keys, and the short-lived cache of verified API keys."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from funnelbridge.activity import pending
from funnelbridge.api import create_app
from funnelbridge.api.auth import KeyCache
from funnelbridge.apikeys import ApiKey, create_api_key, revoke_api_key
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store.tables import events

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
EVENT = {
    "type": "page",
    "anonymous_id": "v1",
    "timestamp": "2026-03-01T09:00:00Z",
    "properties": {"path": "/pricing", "utm_source": "google"},
    "idempotency_key": "evt-1",
}


def _client(runtime: Runtime, **settings: Any) -> TestClient:
    return TestClient(create_app(runtime, Settings(secret_key="test", **settings)), raise_server_exceptions=False)


def _key(runtime: Runtime) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(runtime.db, 'ingest', 'ingest', NOW)[0]}"}


def test_one_event_is_stored_once_and_queued(runtime: Runtime) -> None:
    headers = _key(runtime)
    with _client(runtime, drain_interval=0) as client:  # no drainer: the contact stays queued
        first = client.post("/api/v1/events", headers=headers, json=EVENT)
        assert first.status_code == 202, first.text
        assert first.json() | {"rejections": []} == {
            "received": 1,
            "accepted": 1,
            "duplicates": 0,
            "rejected": 0,
            "contacts_created": 1,
            "identified": 0,
            "merged": 0,
            "rejections": [],
        }
        again = client.post("/api/v1/events", headers=headers, json=EVENT).json()
        assert (again["accepted"], again["duplicates"]) == (0, 1)
        assert client.app.state.committer.groups == 2  # type: ignore[attr-defined]
    with runtime.db.read() as conn:
        assert [r.idempotency_key for r in conn.execute(select(events))] == ["evt-1"]
        assert pending(conn) == 1


def test_a_bad_event_is_a_422_naming_the_field(runtime: Runtime) -> None:
    with _client(runtime) as client:
        response = client.post("/api/v1/events", headers=_key(runtime), json={**EVENT, "timestamp": "yesterday"})
    assert response.status_code == 422
    assert response.json()["rejections"] == [
        {
            "index": 1,
            "problems": [{"field": "timestamp", "reason": response.json()["rejections"][0]["problems"][0]["reason"]}],
        }
    ]
    assert "ISO 8601" in response.json()["rejections"][0]["problems"][0]["reason"]


def test_wait_scores_before_answering_and_works_without_the_lifespan(runtime: Runtime) -> None:
    client = _client(runtime)  # not entered: no lifespan, so no committer — requests store in a worker thread
    headers = _key(runtime)
    assert client.post("/api/v1/events", headers=headers, json=EVENT).json()["accepted"] == 1
    waited = client.post("/api/v1/events?wait=true", headers=headers, json={**EVENT, "idempotency_key": "evt-2"})
    assert waited.status_code == 202 and waited.json()["accepted"] == 1
    with runtime.db.read() as conn:
        assert pending(conn) == 1  # the waited event's contact was scored at once; the first is still queued


def test_ingest_keys_are_rate_limited(runtime: Runtime) -> None:
    headers = _key(runtime)
    with _client(runtime, ingest_rate=0.001, ingest_burst=2) as client:
        codes = [
            client.post("/api/v1/events", headers=headers, json={**EVENT, "idempotency_key": f"k{i}"}).status_code
            for i in range(3)
        ]
    assert codes == [202, 202, 429]


def test_a_revoked_key_is_refused_once_its_cache_entry_expires(runtime: Runtime) -> None:
    plaintext, key = create_api_key(runtime.db, "ingest", "ingest", NOW)
    headers = {"Authorization": f"Bearer {plaintext}"}
    with _client(runtime) as client:
        client.app.state.key_cache = KeyCache(ttl=0.0)  # type: ignore[attr-defined]
        assert client.post("/api/v1/events", headers=headers, json=EVENT).status_code == 202
        revoke_api_key(runtime.db, key.prefix, NOW)
        assert client.post("/api/v1/events", headers=headers, json=EVENT).status_code == 401


def test_key_cache_remembers_verified_keys_for_ttl_seconds() -> None:
    cache = KeyCache(ttl=1.0, limit=2)
    key = ApiKey(1, "k", "abcdefgh", "ingest", NOW, None)
    assert cache.get("fb_x", now=10.0) is None
    cache.put("fb_x", key, now=10.0)
    assert cache.get("fb_x", now=10.9) == key
    assert cache.get("fb_x", now=11.0) is None
    assert cache.get("fb_y", now=10.5) is None
    cache.put("fb_y", key, now=10.0)
    cache.put("fb_z", key, now=10.0)  # over the limit: the map starts afresh
    assert cache.get("fb_x", now=10.1) is None and cache.get("fb_z", now=10.1) == key


def test_the_server_scores_queued_contacts_while_no_request_waits(runtime: Runtime) -> None:
    headers = _key(runtime)
    with _client(runtime, drain_interval=0.02) as client:
        for i in range(3):
            event = {**EVENT, "anonymous_id": f"v{i}", "idempotency_key": f"q{i}"}
            assert client.post("/api/v1/events", headers=headers, json=event).status_code == 202
        committer = client.app.state.committer  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        while _pending(runtime) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _pending(runtime) == 0
        assert committer.idle_steps >= 1 and committer.idle_errors == []


def _pending(runtime: Runtime) -> int:
    with runtime.db.read() as conn:
        return pending(conn)
