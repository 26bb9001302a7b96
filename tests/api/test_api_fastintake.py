"""The intake fast path answers exactly as the route does (same requests, both ways, same answers and same stored
events), and really answers plain events by itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.responses import JSONResponse

from funnelbridge.api import create_app
from funnelbridge.api.fastintake import IntakeFastPath
from funnelbridge.apikeys import create_api_key, verify_api_key
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import events

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
EVENT = {
    "type": "page",
    "anonymous_id": "v1",
    "timestamp": "2026-03-01T09:00:00Z",
    "properties": {"path": "/pricing", "utm_source": "google"},
    "idempotency_key": "evt-1",
}
Request = tuple[str, str, dict[str, str], bytes]  # role, query, extra headers, body


def _body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


REQUESTS: list[Request] = [
    ("ingest", "", {}, _body(EVENT)),
    ("ingest", "", {}, _body(EVENT)),  # a duplicate
    ("marketing", "", {}, _body({**EVENT, "idempotency_key": "evt-2", "email": "ada@acme.com"})),
    ("ingest", "", {}, _body({**EVENT, "timestamp": "yesterday", "idempotency_key": "evt-3"})),
    ("ingest", "", {}, _body([EVENT])),  # not one object: the route's validation problem
    ("ingest", "", {}, b'{"type": "page",'),  # not JSON
    ("ingest", "", {}, b"\xff\xfe{}"),  # not UTF-8
    ("ingest", "", {"content-type": "text/plain"}, _body({**EVENT, "idempotency_key": "evt-4"})),
    ("ingest", "", {"content-type": "application/json; charset=utf-8"}, _body({**EVENT, "idempotency_key": "e5"})),
    ("ingest", "wait=true", {}, _body({**EVENT, "idempotency_key": "evt-6"})),
    ("sales", "", {}, _body({**EVENT, "idempotency_key": "evt-7"})),
    ("read_only", "", {}, _body({**EVENT, "idempotency_key": "evt-8"})),
    ("nobody", "", {}, _body({**EVENT, "idempotency_key": "evt-9"})),
    ("forged", "", {}, _body({**EVENT, "idempotency_key": "evt-10"})),
    ("ingest", "", {}, _body({**EVENT, "idempotency_key": "evt-11", "properties": {"x": "y" * 3000}})),
    *[("ingest", "", {}, _body({**EVENT, "idempotency_key": f"burst-{i}"})) for i in range(6)],  # rate limit
]


@contextmanager
def _app(tmp: Path, *, fast: bool) -> Iterator[tuple[TestClient, Runtime, dict[str, str]]]:
    db = connect(f"sqlite:///{tmp}/store.db")
    upgrade(db)
    runtime = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW))
    keys = {role: create_api_key(db, role, role, NOW)[0] for role in ("ingest", "marketing", "sales", "read_only")}
    keys["forged"] = "fb_not_a_key"
    settings = Settings(secret_key="test", max_body_bytes=2048, ingest_rate=0.001, ingest_burst=8)
    app = create_app(runtime, settings, fast_intake=fast)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, runtime, keys
    db.dispose()


def _send(client: TestClient, keys: dict[str, str], request: Request) -> tuple[int, Any, dict[str, str]]:
    role, query, extra, body = request
    headers = {"content-type": "application/json", **extra}
    if role in keys:
        headers["authorization"] = f"Bearer {keys[role]}"
    response = client.post("/api/v1/events" + (f"?{query}" if query else ""), content=body, headers=headers)
    kept = {k: v for k, v in response.headers.items() if k in ("content-type", "www-authenticate")}
    if "retry-after" in response.headers:  # seconds until the next token: real time, so a second may differ
        kept["retry-after"] = str(int(response.headers["retry-after"]) > 0)
    return response.status_code, response.json(), kept


def _run(tmp: Path, *, fast: bool) -> tuple[list[tuple[int, Any, dict[str, str]]], list[tuple[Any, ...]]]:
    with _app(tmp, fast=fast) as (client, runtime, keys):
        answers = [_send(client, keys, request) for request in REQUESTS]
        with runtime.db.read() as conn:
            stored = [tuple(row) for row in conn.execute(select(events).order_by(events.c.id))]
    return answers, stored


def test_the_fast_path_answers_every_request_as_the_route_does(tmp_path: Path) -> None:
    (tmp_path / "fast").mkdir()
    (tmp_path / "route").mkdir()
    fast, fast_stored = _run(tmp_path / "fast", fast=True)
    route, route_stored = _run(tmp_path / "route", fast=False)
    for request, via_fast, via_route in zip(REQUESTS, fast, route, strict=True):
        assert via_fast == via_route, request
    assert fast_stored == route_stored
    statuses = [status for status, _, _ in fast]
    assert {202, 401, 403, 413, 422, 429} <= set(statuses)  # the sequence exercises every kind of answer


def test_a_plain_event_with_a_cached_key_is_answered_without_the_app_behind(tmp_path: Path) -> None:
    passed_on: list[str] = []

    async def behind(scope: Any, receive: Any, send: Any) -> None:
        passed_on.append(scope["path"])
        response = JSONResponse("passed on", status_code=418)
        await response(scope, receive, send)

    with _app(tmp_path, fast=True) as (client, runtime, keys):
        state: Any = client.app.state  # type: ignore[attr-defined]
        alone = TestClient(IntakeFastPath(behind, state))
        assert _send(alone, keys, REQUESTS[0])[0] == 418  # the key is not cached yet: the route reads it
        token = keys["ingest"]
        with runtime.db.read() as conn:
            state.key_cache.put(token, verify_api_key(conn, token))
        status, body, _ = _send(alone, keys, REQUESTS[0])
        assert (status, body["accepted"]) == (202, 1)
        assert passed_on == ["/api/v1/events"]
        assert _send(alone, keys, ("ingest", "wait=true", {}, _body(EVENT)))[0] == 418  # ?wait is the route's
        assert _send(alone, keys, ("ingest", "", {}, _body([EVENT])))[0] == 418  # so is a body that is no object
