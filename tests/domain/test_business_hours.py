"""Business-hours arithmetic: examples across weekends, holidays and DST, and hypothesis invariants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from funnelbridge.domain.business_hours import ALWAYS, BusinessCalendar, add, elapsed
from funnelbridge.playbook.schema import BusinessHours

BERLIN = BusinessCalendar.from_hours(BusinessHours(holidays=("2026-12-25",)), "Europe/Berlin")
NEW_YORK = BusinessCalendar.from_hours(BusinessHours(start="08:30", end="18:00"), "America/New_York")


def test_friday_afternoon_rolls_over_the_weekend() -> None:
    friday_4pm_berlin = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 16:00 CET
    due = add(friday_4pm_berlin, timedelta(hours=24), BERLIN)
    # 1h on Friday, 8h Monday and Tuesday, 7h on Wednesday → Wednesday 16:00 CET
    assert due == datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    assert elapsed(friday_4pm_berlin, due, BERLIN) == timedelta(hours=24)


def test_start_outside_hours_waits_for_the_next_window() -> None:
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert add(saturday, timedelta(hours=1), BERLIN) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert elapsed(saturday, datetime(2026, 11, 30, 8, 0, tzinfo=UTC), BERLIN) == timedelta(0)


def test_holidays_are_skipped() -> None:
    christmas_eve_5pm = datetime(2026, 12, 24, 16, 0, tzinfo=UTC)  # 17:00 CET Thursday
    assert add(christmas_eve_5pm, timedelta(hours=2), BERLIN) == datetime(2026, 12, 28, 10, 0, tzinfo=UTC)


def test_a_working_day_keeps_its_length_across_dst() -> None:
    # US DST ends on 2026-11-01 (Sunday); Friday and Monday both have 9.5 working hours.
    friday_open = datetime(2026, 10, 30, 12, 30, tzinfo=UTC)  # 08:30 EDT
    monday_open = datetime(2026, 11, 2, 13, 30, tzinfo=UTC)  # 08:30 EST
    assert elapsed(friday_open, monday_open, NEW_YORK) == timedelta(hours=9, minutes=30)
    assert add(friday_open, timedelta(hours=10), NEW_YORK) == monday_open + timedelta(minutes=30)


def test_always_is_wall_clock_time() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert add(start, timedelta(hours=30), ALWAYS) == start + timedelta(hours=30)
    assert elapsed(start, start + timedelta(hours=30), ALWAYS) == timedelta(hours=30)


instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=200))
calendars = st.sampled_from([BERLIN, NEW_YORK, ALWAYS])


@given(instants, durations, calendars)
def test_elapsed_inverts_add(start: datetime, duration: timedelta, cal: BusinessCalendar) -> None:
    due = cal.add(start, duration)
    assert due >= start
    assert cal.elapsed(start, due) == duration


@given(st.lists(instants, min_size=3, max_size=3), calendars)
def test_elapsed_is_additive_and_bounded(points: list[datetime], cal: BusinessCalendar) -> None:
    a, b, c = sorted(points)
    assert cal.elapsed(a, b) + cal.elapsed(b, c) == cal.elapsed(a, c)
    assert cal.elapsed(a, c) <= c - a


@given(instants, durations, durations, calendars)
def test_add_is_monotone(start: datetime, d1: timedelta, d2: timedelta, cal: BusinessCalendar) -> None:
    lo, hi = sorted([d1, d2])
    assert cal.add(start, lo) <= cal.add(start, hi)
