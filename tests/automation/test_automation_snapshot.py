"""A notification's lead snapshot (read on SQLite without SQLAlchemy's per-row processing) is what the rows say."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert

from funnelbridge.automation.notify import lead_snapshot
from funnelbridge.store import Database
from funnelbridge.store.tables import accounts, contacts, pipeline_states, scores

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_lead_snapshot_reads_the_lead_its_company_stages_and_score(db: Database) -> None:
    explanation = [{"rule": "visits", "kind": "engagement", "points": 2.5, "events": 3}]
    with db.transaction() as conn:
        account = conn.execute(
            insert(accounts).values(name="Acme", domain="acme.example", created_at=T0, updated_at=T0)
        ).inserted_primary_key[0]
        lead = conn.execute(
            insert(contacts).values(
                email="ann@acme.example",
                first_name="Ann",
                last_name="Lee",
                title="CTO",
                account_id=account,
                created_at=T0,
                updated_at=T0,
            )
        ).inserted_primary_key[0]
        bare = conn.execute(insert(contacts).values(created_at=T0, updated_at=T0)).inserted_primary_key[0]
        conn.execute(
            insert(scores).values(
                contact_id=lead,
                score_group="main",
                fit=10.0,
                engagement=2.5,
                negative=-1.0,
                total=11.5,
                grade="B",
                temperature="warm",
                quadrant="nurture_fit",
                mql_eligible=False,
                explanation=explanation,
                as_of=T0,
                playbook_version="v",
                updated_at=T0,
            )
        )
        for pipeline, stage in (("main", "mql"), ("partner", "new")):
            conn.execute(
                insert(pipeline_states).values(
                    contact_id=lead, pipeline=pipeline, stage=stage, entered_at=T0, journey=1
                )
            )
    with db.read() as conn:
        got, unscored, missing = lead_snapshot(conn, lead), lead_snapshot(conn, bare), lead_snapshot(conn, 10**9)
    assert got == {
        "id": lead,
        "name": "Ann Lee",
        "email": "ann@acme.example",
        "title": "CTO",
        "company": "Acme",
        "stages": {"main": "mql", "partner": "new"},
        "score": {
            "fit": 10.0,
            "engagement": 2.5,
            "negative": -1.0,
            "total": 11.5,
            "grade": "B",
            "temperature": "warm",
            "explanation": explanation,
        },
    }
    assert unscored == {
        "id": bare,
        "name": f"contact {bare}",
        "email": None,
        "title": None,
        "company": None,
        "stages": {},
        "score": None,
    }
    assert missing == {"id": 10**9}
