"""The handoff scorecard on every engine against hand-computed figures (see conftest.py)."""

from __future__ import annotations

import pytest

from funnelbridge.analytics.report import FunnelReport


def test_acceptance_and_rejection_reasons(report: FunnelReport) -> None:
    card = report.handoff
    assert (card.queue_stage, card.handoff_stage, card.touch_stage) == ("mql", "sal", "sql")
    assert (card.handed_over, card.accepted, card.rejected, card.pending) == (5, 4, 1, 0)
    assert card.acceptance_rate == pytest.approx(0.8)
    assert [(r.reason, r.count) for r in card.rejection_reasons] == [("not_a_fit", 1)]


def test_time_to_accept_and_first_touch(report: FunnelReport) -> None:
    card = report.handoff
    assert card.hours_to_accept.n == 4 and card.hours_to_accept.median == pytest.approx(24.0)
    # SQL entered: c1 01-15 10:00 (call 14:00, 4 h), c2 j2 03-05 10:00 (email 03-06, 24 h), c7 01-06 10:00 (1 h)
    assert card.hours_to_first_touch.n == 3 and card.hours_to_first_touch.median == pytest.approx(4.0)


def test_sla_breaches_per_rep_and_week(report: FunnelReport) -> None:
    card = report.handoff
    assert card.sla_breaches == 1
    assert [(w.week, w.breaches) for w in card.breaches_by_week] == [("2026-W05", 1)]
    reps = {r.rep: r for r in card.reps}
    assert reps["Bob"].sla_breaches == 1 and reps["Ann"].sla_breaches == 0
    assert (reps["Bob"].accepted, reps["Bob"].rejected, reps["Bob"].acceptance_rate) == (2, 1, pytest.approx(2 / 3))
    assert reps["Ann"].median_hours_to_first_touch == pytest.approx(2.5)
