"""Pure: parsing actions, turning domain events into occurrences, matching rules (hypothesis for score crossings)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import pytest
from automation_helpers import b2b
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelbridge.automation import Action, ActionKind, matching_rules, occurrence_of, parse_action
from funnelbridge.domain.events import DealLost, DealStageChanged, ScoreCrossed, StageEntered, StageLeft
from funnelbridge.errors import PlaybookError
from funnelbridge.playbook.schema import Playbook, Trigger

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_action_forms() -> None:
    assert parse_action("assign") == Action(ActionKind.ASSIGN)
    notify = parse_action({"notify": "manager", "via": "webhook", "format": "slack", "url": "http://x"})
    assert (notify.kind, notify.target, notify.via, notify.format, notify.url) == (
        ActionKind.NOTIFY, "manager", "webhook", "slack", "http://x",
    )  # fmt: skip
    assert parse_action({"task": "Call", "due": "1h"}).due == timedelta(hours=1)
    assert parse_action({"remove": "nurture_long"}).kind is ActionKind.UNENROLL
    assert parse_action({"move": "recycled", "reason": "stalled"}).reason == "stalled"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("notify", "needs an argument"),
        ("dance", "unknown action"),
        ({"notify": "owner", "via": "pigeon"}, "email or webhook"),
        ({"notify": "owner", "colour": "red"}, "does not take colour"),
        ({"task": "x", "due": "soon"}, "task due"),
        ({"assign": None, "notify": "owner"}, "exactly one action"),
        ({"notify": "owner", "via": "webhook", "format": "xml"}, "json or slack"),
    ],
)
def test_bad_actions_are_refused_with_the_reason(spec: object, message: str) -> None:
    with pytest.raises(PlaybookError, match=message):
        parse_action(spec)  # type: ignore[arg-type]


def test_every_shipped_action_parses() -> None:
    for rule in b2b().automation:
        for spec in rule.do:
            parse_action(spec)


def test_occurrence_keys_are_deterministic_and_distinct() -> None:
    entered = StageEntered(7, AT, "main", "mql", "mal", 1)
    assert occurrence_of(entered) == occurrence_of(entered)
    left = occurrence_of(StageLeft(7, AT, "main", "mql", "sal"))
    assert left is not None and left.key != occurrence_of(entered).key  # type: ignore[union-attr]
    deal = occurrence_of(DealStageChanged(7, AT, 3, "prospecting", "proposal"))
    assert deal is not None and (deal.trigger, deal.stage, deal.deal_id) == (Trigger.DEAL_STAGE_CHANGED, "proposal", 3)
    lost = occurrence_of(DealLost(7, AT, 3, "price", "rivalcrm"))
    assert lost is not None and lost.data == {"reason": "price", "competitor": "rivalcrm"}


def test_stage_rules_match_on_trigger_and_stage() -> None:
    pb = b2b()
    occ = occurrence_of(StageEntered(1, AT, "main", "mql", "mal", 1))
    assert occ is not None
    assert [r.on for _, r in matching_rules(pb, occ)] == [Trigger.STAGE_ENTERED]
    sal = occurrence_of(StageEntered(1, AT, "main", "sal", "mql", 1))
    assert sal is not None and matching_rules(pb, sal) == []


scores = st.floats(min_value=-200, max_value=300, allow_nan=False)


@functools.cache
def _threshold_playbook() -> Playbook:
    return b2b(automation=[{"on": "score_crossed", "threshold": 70, "do": ["assign"]}])


@settings(deadline=None)  # a loaded CI box must not fail a pure test on time
@given(old=scores, new=scores, threshold=st.sampled_from([50.0, 70.0, 90.0]))
def test_a_threshold_rule_fires_exactly_on_upward_total_crossings_of_its_threshold(
    old: float, new: float, threshold: float
) -> None:
    pb = _threshold_playbook()
    occ = occurrence_of(ScoreCrossed(1, AT, "main", "total", threshold, old, new))
    assert occ is not None
    fired = bool(matching_rules(pb, occ))
    assert fired == (threshold == 70.0 and new > old)
    other = occurrence_of(ScoreCrossed(1, AT, "main", "engagement", threshold, old, new))
    assert other is not None and not matching_rules(pb, other)
