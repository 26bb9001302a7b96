"""Playbook planning over the API: plan replays history under a proposed playbook (nothing stored), apply
activates it for the running server; a broken playbook is refused with its line and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from funnelbridge.api import create_app
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.playbook.examples import example_path
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store import Database
from funnelbridge.store.playbooks import active_version
from funnelbridge.store.tables import accounts, contacts, events, scores, transitions

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
B2B = example_path("b2b").read_text(encoding="utf-8")


def _threshold(engagement: int) -> str:
    """The B2B playbook with the MQL engagement threshold (criteria and scoring) set to ``engagement``."""
    text = B2B.replace(
        "{field: score.engagement, op: gte, value: 50}", f"{{field: score.engagement, op: gte, value: {engagement}}}"
    )
    text = text.replace("mql: {grades: [A, B], engagement: 50}", f"mql: {{grades: [A, B], engagement: {engagement}}}")
    assert text != B2B
    return text


def _seed(db: Database) -> None:
    """Six grade-A leads; lead k downloaded k assets (15 engagement points each) at one instant, 3 days ago."""
    at = NOW - timedelta(days=3)
    with db.transaction() as conn:
        for k in range(6):
            cid = k + 1
            conn.execute(accounts.insert(), {"id": cid, "domain": f"acme{cid}.example", "industry": "software",
                         "employees": 2000, "country": "DE", "technologies": ["salesforce"], "created_at": at,
                         "updated_at": at})  # fmt: skip
            conn.execute(contacts.insert(), {"id": cid, "email": f"vp@acme{cid}.example", "title": "VP Sales",
                         "account_id": cid, "created_at": at, "identified_at": at, "updated_at": at})  # fmt: skip
            conn.execute(transitions.insert(), {"contact_id": cid, "pipeline": "main", "journey": 1, "to_stage": "lead",
                         "from_stage": None, "at": at - timedelta(hours=1), "actor": "system", "actor_role": "system",
                         "playbook_version": "seed", "skipped": []})  # fmt: skip
            for j in range(k):
                row = {"idempotency_key": f"d-{cid}-{j}", "contact_id": cid, "type": "asset_download"}
                conn.execute(events.insert(), {**row, "occurred_at": at, "received_at": at, "properties": {}})


@pytest.fixture
def planning(sqlite_db: Database, tmp_path: Path) -> Iterator[tuple[TestClient, Runtime, Path]]:
    from funnelbridge.playbook.loader import parse_playbook

    active = tmp_path / "playbook.yaml"
    active.write_text(B2B, encoding="utf-8")
    rt = Runtime(db=sqlite_db, playbook=parse_playbook(B2B), clock=FrozenClock(NOW))
    _seed(sqlite_db)
    settings = Settings(playbook=str(active), secret_key="test", drain_interval=0)
    with TestClient(create_app(rt, settings), raise_server_exceptions=False) as client:
        yield client, rt, active


def _auth(rt: Runtime, role: str) -> dict[str, str]:
    from funnelbridge.apikeys import create_api_key

    return {"Authorization": f"Bearer {create_api_key(rt.db, role, role, NOW)[0]}"}


def test_plan_compares_a_stricter_threshold_without_storing_anything(
    planning: tuple[TestClient, Runtime, Path],
) -> None:
    client, rt, _active = planning
    response = client.post("/api/v1/playbook/plan", json={"playbook": _threshold(70)}, headers=_auth(rt, "read_only"))
    assert response.status_code == 200, response.text
    body = response.json()
    # engagement 15·k: k ≥ 4 reaches 50 (leads 5 and 6), only k = 5 reaches 70 (lead 6)
    assert body["current"]["mqls"] == 2
    assert body["proposed"]["mqls"] == 1
    assert body["leaving"] == [5] and body["entering"] == []
    assert "mql_ids" not in body["current"]
    with rt.db.read() as conn:
        assert conn.execute(scores.select()).first() is None


def test_plan_refuses_a_broken_playbook_with_its_line(planning: tuple[TestClient, Runtime, Path]) -> None:
    client, rt, _active = planning
    broken = B2B.replace("op: gte, value: 50}", "op: gte, value: fifty}", 1)
    response = client.post("/api/v1/playbook/plan", json={"playbook": broken}, headers=_auth(rt, "admin"))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "line" in response.json()["detail"]


def test_apply_needs_admin_and_activates_for_the_running_server(planning: tuple[TestClient, Runtime, Path]) -> None:
    client, rt, active = planning
    stricter = _threshold(70)
    refused = client.post("/api/v1/playbook/apply", json={"playbook": stricter}, headers=_auth(rt, "marketing"))
    assert refused.status_code == 403
    assert active.read_text(encoding="utf-8") == B2B

    response = client.post("/api/v1/playbook/apply", json={"playbook": stricter}, headers=_auth(rt, "admin"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["changed"] is True and body["rescore"]["leads"] == 6
    assert active.read_text(encoding="utf-8") == stricter
    with rt.db.read() as conn:
        assert active_version(conn) == body["version"]
    served = client.get("/api/v1/playbook", headers=_auth(rt, "read_only")).json()
    assert served["scoring"]["mql"]["engagement"] == 70
    assert client.get("/health").json()["playbook_version"] == body["version"]
