"""Routing: round-robin per team, territory rules, weekly capacity, away reps skipped, sticky owners."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from automation_helpers import World, b2b
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from funnelbridge.automation import ConditionChecker, assign_lead, week_start
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.playbook.schema import RoutingRule
from funnelbridge.store.tables import assignments, contacts, pipeline_states

# Store-agnostic cases run on SQLite only; PostgreSQL runs the cases that take its row locks.
SQLITE_ONLY = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


def _assign(world: World, cid: int) -> str | None:
    with world.rt.db.transaction() as conn:
        got = assign_lead(conn, world.rt.playbook, cid, world.clock.now(), ConditionChecker())
    return None if got is None else got.email


def test_round_robin_cycles_through_the_team_in_order(world: World) -> None:
    for name in ("ann", "bob", "cid"):
        world.user(f"{name}@acme.test")
    owners = [_assign(world, world.contact(f"lead{i}@corp.test")) for i in range(7)]
    assert owners == ["ann@acme.test", "bob@acme.test", "cid@acme.test"] * 2 + ["ann@acme.test"]


@SQLITE_ONLY
def test_territory_rule_sends_dach_leads_to_the_dach_team(world: World) -> None:
    world.user("us@acme.test")
    world.user("de@acme.test", team="dach")
    assert _assign(world, world.contact("hans@firma.test", country="DE")) == "de@acme.test"
    assert _assign(world, world.contact("joe@corp.test", country="US")) == "us@acme.test"


def test_away_and_full_reps_are_skipped_and_owner_is_recorded(world: World) -> None:
    world.user("away@acme.test", away=True)
    busy = world.user("busy@acme.test", capacity=1)
    world.user("free@acme.test")
    first = world.contact("a@corp.test")
    assert _assign(world, first) == "busy@acme.test"
    assert _assign(world, world.contact("b@corp.test")) == "free@acme.test"
    assert _assign(world, world.contact("c@corp.test")) == "free@acme.test"  # busy is full this week
    with world.rt.db.read() as conn:
        assert conn.execute(select(contacts.c.owner_id).where(contacts.c.id == first)).scalar() == busy
        assert conn.execute(select(pipeline_states.c.owner_id).where(pipeline_states.c.contact_id == first)).scalar()
        assert conn.execute(select(assignments.c.method)).scalars().all() == ["round_robin"] * 3


@SQLITE_ONLY
def test_capacity_resets_on_monday_in_the_playbook_time_zone(world: World, clock: FrozenClock) -> None:
    world.user("solo@acme.test", capacity=1)
    assert _assign(world, world.contact("a@corp.test")) == "solo@acme.test"
    assert _assign(world, world.contact("b@corp.test")) is None
    clock.set(week_start(clock.now(), "Europe/Berlin") + timedelta(days=7))
    assert _assign(world, world.contact("c@corp.test")) == "solo@acme.test"


def test_week_starts_monday_midnight_local() -> None:
    from datetime import UTC, datetime

    # Sunday 23:30 UTC is already Monday 00:30 in Berlin: the new week began at 23:00 UTC.
    assert week_start(datetime(2026, 11, 29, 23, 30, tzinfo=UTC), "Europe/Berlin") == datetime(
        2026, 11, 29, 23, 0, tzinfo=UTC
    )


@SQLITE_ONLY
def test_a_lead_with_an_available_owner_keeps_them(world: World) -> None:
    keeper = world.user("keeper@acme.test")
    world.user("other@acme.test")
    cid = world.contact("x@corp.test", owner=keeper)
    assert _assign(world, cid) == "keeper@acme.test"


@SQLITE_ONLY
def test_least_loaded_picks_the_rep_with_fewest_assignments(world: World) -> None:
    world.rt.playbook = b2b(routing=[RoutingRule(assign="least_loaded").model_dump()])
    world.user("a@acme.test")
    world.user("b@acme.test")
    owners = [_assign(world, world.contact(f"l{i}@corp.test")) for i in range(4)]
    assert sorted(owners) == ["a@acme.test"] * 2 + ["b@acme.test"] * 2  # type: ignore[type-var]


@SQLITE_ONLY
def test_no_available_rep_means_no_assignment(world: World) -> None:
    world.user("gone@acme.test", away=True)
    assert _assign(world, world.contact("x@corp.test")) is None


@SQLITE_ONLY
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(away=st.lists(st.booleans(), min_size=4, max_size=4), leads=st.integers(min_value=1, max_value=9))
def test_round_robin_spreads_leads_evenly_over_the_available_reps(world: World, away: list[bool], leads: int) -> None:
    team = uuid.uuid4().hex[:8]  # hypothesis reuses the fixture: each example routes within a team of its own
    world.rt.playbook = b2b(routing=[{"assign": "round_robin", "team": team}])
    for i, is_away in enumerate(away):
        world.user(f"r{i}.{team}@acme.test", team=team, away=is_away)
    available = {f"r{i}.{team}@acme.test" for i, is_away in enumerate(away) if not is_away}
    owners = [_assign(world, world.contact(f"l{i}.{team}@corp.test")) for i in range(leads)]
    if not available:
        assert owners == [None] * leads
        return
    counts = {email: owners.count(email) for email in available}
    assert set(owners) <= available and sum(counts.values()) == leads
    assert max(counts.values()) - min(counts.values()) <= 1
