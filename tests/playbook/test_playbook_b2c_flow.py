"""The shipped B2C playbook end to end through event intake: an anonymous shopper browses, leaves an e-mail
(lead, enrolled in the welcome nurture, earlier browsing attached), orders (customer) — on both stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from funnelbridge.automation.install import install
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.ingest.intake import ingest_events
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database
from funnelbridge.store.tables import contacts, nurture_enrollments, scores, transitions

NOW = datetime(2026, 5, 4, 18, 0, tzinfo=UTC)


def _trail(rt: Runtime) -> list[tuple[str | None, str]]:
    with rt.db.read() as conn:
        query = select(transitions.c.from_stage, transitions.c.to_stage).order_by(transitions.c.at, transitions.c.id)
        return [(r.from_stage, r.to_stage) for r in conn.execute(query)]


def test_shopper_goes_visitor_lead_customer(db: Database) -> None:
    rt = Runtime(db=db, playbook=load_example("b2c"), clock=FrozenClock(NOW))
    install(rt)  # the automation, as open_runtime does
    browse = [
        {"type": "page", "anonymous_id": "s1", "timestamp": f"2026-05-04T{h}:00:00Z",
         "properties": {"path": f"/product/{h}"}}
        for h in (10, 11, 12)
    ]  # fmt: skip
    summary = ingest_events(rt, browse)
    assert summary.rejected == 0
    assert _trail(rt) == [(None, "visitor")]

    ingest_events(rt, [{"type": "identify", "anonymous_id": "s1", "email": "Sam@Example.org",
                        "timestamp": "2026-05-04T13:00:00Z", "traits": {"country": "GB"}}])  # fmt: skip
    assert _trail(rt) == [(None, "visitor"), ("visitor", "lead")]
    with rt.db.read() as conn:
        contact = conn.execute(select(contacts)).one()
        score = conn.execute(select(scores).where(scores.c.score_group == "main")).one()
        enrolled = conn.execute(select(nurture_enrollments.c.track)).scalars().all()
    assert contact.email == "sam@example.org"
    # GB gives 10 fit points; each /product view 2 points, halved every 7 days (viewed 8, 7 and 6 hours ago)
    assert score.fit == 10
    assert score.engagement == pytest.approx(sum(2 * 0.5 ** (hours / 168) for hours in (8, 7, 6)))
    assert enrolled == ["welcome"]

    ingest_events(rt, [{"type": "track", "event": "add_to_cart", "email": "sam@example.org",
                        "timestamp": "2026-05-04T14:00:00Z"},
                       {"type": "track", "event": "order_completed", "email": "sam@example.org",
                        "timestamp": "2026-05-04T14:05:00Z", "properties": {"total": 59.0}}])  # fmt: skip
    assert _trail(rt) == [(None, "visitor"), ("visitor", "lead"), ("lead", "customer")]


def test_an_anonymous_order_waits_for_identification(db: Database) -> None:
    """Nobody skips past identification (the lead stage's criteria): an order without an e-mail keeps the
    shopper a visitor; identifying afterwards makes a customer, recording the skipped lead stage."""
    rt = Runtime(db=db, playbook=load_example("b2c"), clock=FrozenClock(NOW))
    ingest_events(rt, [{"type": "track", "event": "order_completed", "anonymous_id": "s2",
                        "timestamp": "2026-05-04T14:00:00Z"}])  # fmt: skip
    assert _trail(rt) == [(None, "visitor")]
    ingest_events(rt, [{"type": "identify", "anonymous_id": "s2", "email": "kim@example.org",
                        "timestamp": "2026-05-04T15:00:00Z"}])  # fmt: skip
    assert _trail(rt) == [(None, "visitor"), ("visitor", "customer")]
    with rt.db.read() as conn:
        assert conn.execute(select(transitions.c.skipped).where(transitions.c.to_stage == "customer")).scalar() == [
            "lead"
        ]
