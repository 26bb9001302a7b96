"""The outcome horizon: every labelled lead has had the same time to reach the target, chosen from the data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from funnelbridge.playbook.examples import example_path
from funnelbridge.playbook.loader import load_playbook
from funnelbridge.scoring.predictive.store_features import MIN_HORIZON_DAYS, labelled_leads, outcome_horizon
from funnelbridge.scoring.predictive.store_history import History, LeadHistory

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PB = load_playbook(example_path("b2b"))


def _lead(cid: int, mql_day: int, won_after: float | None) -> LeadHistory:
    contact = {"identified_at": T0 + timedelta(days=mql_day - 1), "email": f"p{cid}@co.example"}
    entries = {"mql": T0 + timedelta(days=mql_day)}
    if won_after is not None:
        entries["customer"] = entries["mql"] + timedelta(days=won_after)
    return LeadHistory(cid, contact, None, (), entries)


def _history(leads: list[LeadHistory], last_day: int) -> History:
    return History(T0 + timedelta(days=last_day), "main", tuple(leads))


def test_horizon_is_the_90th_percentile_of_the_lags_in_whole_days() -> None:
    lags = [10.0 * k + 0.5 for k in range(1, 21)]  # 10.5, 20.5, ..., 200.5
    leads = [_lead(i, 0, lag) for i, lag in enumerate(lags)] + [_lead(99, 0, None)]
    assert outcome_horizon(_history(leads, 400), "mql", "customer") == 181.0  # 18th of 20 lags, 180.5, rounded up


def test_few_or_short_lags_fall_back_to_the_minimum() -> None:
    few = [_lead(i, 0, 200.0) for i in range(9)]
    assert outcome_horizon(_history(few, 400), "mql", "customer") == MIN_HORIZON_DAYS
    short = [_lead(i, 0, 3.0) for i in range(30)]
    assert outcome_horizon(_history(short, 400), "mql", "customer") == MIN_HORIZON_DAYS


def test_a_lead_that_buys_after_the_horizon_is_negative_and_young_leads_wait() -> None:
    leads = [_lead(1, 0, 20.0), _lead(2, 0, 50.0), _lead(3, 0, None), _lead(4, 80, 5.0), _lead(5, 10, 30.0)]
    labelled = labelled_leads(_history(leads, 100), PB, "customer", 40.0)
    assert labelled.horizon_days == 40.0
    assert {lead.contact_id: positive for lead, _, positive in labelled.leads} == {1: True, 2: False, 3: False, 5: True}
    assert labelled.n_immature == 1  # decided on day 80: less than 40 days before the last activity (day 100)
