"""Account roll-ups of contact scores: max, sum, avg."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rule_helpers import T0, add_account, add_contact, add_events, playbook

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.rollup import account_scores
from funnelbridge.scoring.service import score_contact
from funnelbridge.store import Database


@pytest.mark.parametrize(("rollup", "expected"), [("max", 30.0), ("sum", 40.0), ("avg", 40 / 3)])
def test_account_rollup(db: Database, rollup: str, expected: float) -> None:
    pb = playbook({"engagement": [{"event": "webinar", "points": 10}], "account_rollup": rollup})
    rt = Runtime(db, pb, FrozenClock(T0 + timedelta(days=1)))
    with db.transaction() as conn:
        acc = add_account(conn, domain="acme.com")
        other = add_account(conn, domain="other.com")
        for n in (3, 1, 0):
            cid = add_contact(conn, email=f"p{n}@acme.com", account_id=acc)
            add_events(conn, cid, [{"type": "webinar", "occurred_at": T0} for _ in range(n)])
            score_contact(rt, conn, cid)
        score_contact(rt, conn, add_contact(conn, email="x@other.com", account_id=other))
        result = account_scores(conn, pb)
    assert [a.account_id for a in result] == [acc, other]
    assert result[0].score == pytest.approx(expected) and result[0].contacts == 3
