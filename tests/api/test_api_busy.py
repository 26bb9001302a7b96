"""An event posted while a first bulk load has the unique key index dropped: 503 with Retry-After (a real load in
this process, the API on a second connection to the same file), and 202 once the load is over; after a killed load,
one 503 of a second while the API builds the index, then 202."""

from __future__ import annotations

import csv
from pathlib import Path

from fastapi.testclient import TestClient

from funnelbridge.api import create_app
from funnelbridge.apikeys import create_api_key
from funnelbridge.ingest import import_file
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store import connect
from funnelbridge.store.bulkload import defer_unique, drop_indexes, missing_indexes
from funnelbridge.store.tables import events

EVENT = {"type": "page", "anonymous_id": "v1", "timestamp": "2026-03-01T09:00:00Z", "idempotency_key": "api-1"}


def _events(path: Path, n: int) -> Path:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["type", "anonymous_id", "timestamp", "idempotency_key"])
        out.writerows(["page_view", f"v{i % 17}", f"2026-02-01T00:{i % 60:02d}:00Z", f"k{i}"] for i in range(n))
    return path


def test_an_event_posted_during_a_deferred_load_is_a_503_with_retry_after(runtime: Runtime, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {create_api_key(runtime.db, 'ingest', 'ingest', runtime.clock.now())[0]}"}
    loader = Runtime(db=connect(runtime.db.url), playbook=runtime.playbook, clock=runtime.clock)
    answers = []
    app = create_app(runtime, Settings(secret_key="test", drain_interval=0))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:

            def during(_rows: int) -> None:
                answers.append(client.post("/api/v1/events", headers=headers, json=EVENT))

            import_file(loader, "events", _events(tmp_path / "e.csv", 600), chunk_size=300, defer=True, bulk=True,
                        progress=during)  # fmt: skip
            after = client.post("/api/v1/events", headers=headers, json=EVENT)
    finally:
        loader.db.dispose()
    assert [a.status_code for a in answers] == [503, 503]
    assert answers[0].headers["Retry-After"] == "60"
    problem = answers[0].json()
    assert problem["type"] == "/problems/store-busy" and "bulk load" in problem["detail"]
    assert after.status_code == 202 and after.json()["accepted"] == 1


def test_an_event_posted_after_a_killed_load_is_one_503_of_a_second_then_stored(runtime: Runtime) -> None:
    """The API opened the store before a first bulk load that was then killed (its indexes dropped, committed; no
    process holds the load's lock): the first post builds them and asks to retry in a second, the retry is stored —
    no restart of the server needed."""
    headers = {"Authorization": f"Bearer {create_api_key(runtime.db, 'ingest', 'ingest', runtime.clock.now())[0]}"}
    app = create_app(runtime, Settings(secret_key="test", drain_interval=0))
    with TestClient(app, raise_server_exceptions=False) as client:
        killed = connect(runtime.db.url)  # the load's own connection, gone with it
        with killed.transaction() as conn:
            assert defer_unique(conn, events)
            drop_indexes(conn, events)
        killed.dispose()
        first = client.post("/api/v1/events", headers=headers, json=EVENT)
        with runtime.db.read() as conn:
            assert missing_indexes(conn, events) == []
        retry = client.post("/api/v1/events", headers=headers, json=EVENT)
    assert first.status_code == 503 and first.headers["Retry-After"] == "1"
    assert "built again now" in first.json()["detail"]
    assert retry.status_code == 202 and retry.json()["accepted"] == 1
