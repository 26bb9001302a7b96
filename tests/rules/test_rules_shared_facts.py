from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, update

from funnelbridge.rules.facts import load_lead_facts, shared_facts
from funnelbridge.store import Database
from funnelbridge.store.tables import contacts, events, scores

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _score_row(total: float) -> dict[str, object]:
    return {
        "contact_id": 1,
        "score_group": "main",
        "fit": 1.0,
        "engagement": 1.0,
        "negative": 0.0,
        "total": total,
        "grade": "A",
        "temperature": "cold",
        "quadrant": "q",
        "mql_eligible": False,
        "explanation": [],
        "as_of": NOW,
        "playbook_version": "v",
        "updated_at": NOW,
    }


def test_shared_facts_read_attributes_once_but_the_score_afresh(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(insert(contacts).values(id=1, email="a@acme.com", title="VP", created_at=NOW, updated_at=NOW))
        conn.execute(
            insert(events).values(
                idempotency_key="e1", contact_id=1, type="page_view", occurred_at=NOW, received_at=NOW
            )
        )
        conn.execute(insert(scores).values(**_score_row(10.0)))
        with shared_facts():
            first = load_lead_facts(conn, 1, NOW)
            conn.execute(update(contacts).values(title="CEO"))
            conn.execute(update(scores).values(total=55.0))
            second = load_lead_facts(conn, 1, NOW)
        outside = load_lead_facts(conn, 1, NOW)
    assert first.score is not None and first.score["total"] == 10.0
    assert second.score is not None and second.score["total"] == 55.0
    assert second.contact["title"] == "VP" and len(second.events) == 1  # shared within the block
    assert outside.contact["title"] == "CEO"  # nothing is shared outside it
