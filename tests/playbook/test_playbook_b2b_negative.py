"""The shipped B2B playbook's negative points: an unsubscribe or bounce counts once, whether it arrived as the
email event or only as a flag from an import (a CRM export carries the flag, not the event behind it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from funnelbridge.playbook import load_example
from funnelbridge.rules.facts import EventFact, LeadFacts
from funnelbridge.scoring.rules_engine import score_facts

AS_OF = datetime(2026, 3, 2, 12, tzinfo=UTC)
BASE = {"email": "ada@acme.com", "unsubscribed": False, "bounced": False}


def _negative(contact: dict[str, object], events: tuple[EventFact, ...] = ()) -> float:
    facts = LeadFacts({**BASE, **contact}, events=events, as_of=AS_OF)
    return score_facts(load_example("b2b"), facts)[0].negative


@pytest.mark.parametrize(
    ("flag", "event", "points"), [("unsubscribed", "email_unsubscribe", -20), ("bounced", "email_bounce", -25)]
)
def test_a_flag_or_its_event_counts_once(flag: str, event: str, points: float) -> None:
    assert _negative({}) == 0
    assert _negative({flag: True}) == points  # imported flag, no event
    happened = (EventFact(event, datetime(2026, 3, 1, tzinfo=UTC)),)
    assert _negative({flag: True}, happened) == points  # the event sets the flag too: not twice
    assert _negative({}, happened) == points
