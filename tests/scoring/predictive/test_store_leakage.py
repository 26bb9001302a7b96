"""Invariant: a lead's features at a moment depend only on what happened up to that moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelbridge.playbook.examples import example_path
from funnelbridge.playbook.loader import load_playbook
from funnelbridge.rules.facts import EventFact
from funnelbridge.scoring.predictive.store_features import BASE_EVENT_TYPES, FeatureSpec, lead_features
from funnelbridge.scoring.predictive.store_history import LeadHistory
from funnelbridge.scoring.predictive.store_train import rule_scorer

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = FeatureSpec(BASE_EVENT_TYPES, ("blog", "pricing"), technologies=("hubspot",), rule_features=True)
RULE = rule_scorer(load_playbook(example_path("b2b")))
events = st.lists(
    st.tuples(st.sampled_from(BASE_EVENT_TYPES), st.sampled_from(["/blog/x", "/pricing", None]), st.integers(0, 2000)),
    max_size=25,
)


def _lead(items: list[tuple[str, str | None, int]], mql_hour: int | None) -> LeadHistory:
    facts = tuple(sorted((EventFact(t, T0 + timedelta(hours=h), p) for t, p, h in items), key=lambda e: e.occurred_at))
    contact = {"identified_at": T0, "title": "VP Sales", "email": "a@b.example", "first_touch_at": T0}
    entries = {"mql": T0 + timedelta(hours=mql_hour)} if mql_hour is not None else {}
    return LeadHistory(1, contact, None, facts, entries)


def _same(a: dict[str, object], b: dict[str, object]) -> bool:
    return a.keys() == b.keys() and all(
        (isinstance(a[k], float) and np.isnan(a[k]) and np.isnan(b[k])) or a[k] == b[k]  # type: ignore[arg-type]
        for k in a
    )


@settings(max_examples=60, deadline=None)
@given(past=events, future=events, at_hour=st.integers(0, 2000), mql_hour=st.one_of(st.none(), st.integers(0, 4000)))
def test_events_after_the_moment_change_nothing(past, future, at_hour, mql_hour) -> None:  # type: ignore[no-untyped-def]
    at = T0 + timedelta(hours=at_hour)
    known = [e for e in past if e[2] <= at_hour]
    later = [(t, p, at_hour + 1 + h) for t, p, h in future]
    entered_later = mql_hour if mql_hour is None or mql_hour <= at_hour else None
    before, after = _lead(known, entered_later), _lead(known + later, mql_hour)
    assert _same(
        lead_features(before, at, SPEC, "mql", RULE(before, at)),
        lead_features(after, at, SPEC, "mql", RULE(after, at)),
    )
