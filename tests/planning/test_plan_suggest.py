"""``suggest_points``: learned points follow the outcomes, are compared on later leads, and thin history is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from plan_helpers import T0, insert, insert_outcomes, leads, playbook

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.errors import ModelError
from funnelbridge.planning.suggest import suggest_points
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database


def test_suggestions_follow_the_outcomes(db: Database) -> None:
    insert_outcomes(db, 320)
    rt = Runtime(db=db, playbook=playbook(), clock=FrozenClock(T0))
    result = suggest_points(rt)
    rules = {r.rule: r for r in result.rules}
    crm = rules["uses a CRM"]
    assert crm.suggested_points is not None and crm.suggested_points > crm.current_points and crm.fired == 116
    blog = rules["blog read"]
    assert blog.suggested_points is not None and blog.suggested_points < 0 and "negative rule" in blog.note
    assert rules["demo request"].suggested_points is None and "never fired" in rules["demo request"].note
    assert "every lead" in rules["business email"].note
    assert (result.n_fit, result.n_validation) == (231, 78)  # 11 leads too young to judge
    assert result.suggested.roc_auc is not None and result.current.roc_auc is not None
    assert result.suggested.roc_auc > result.current.roc_auc


def test_thin_history_is_refused(sqlite_db: Database) -> None:
    insert(sqlite_db, leads(40))
    rt = Runtime(db=sqlite_db, playbook=playbook(), clock=FrozenClock(T0 + timedelta(days=200)))
    with pytest.raises(ModelError, match=r"too little history: \d+ leads with a mature outcome"):
        suggest_points(rt)
