"""Business-hours arithmetic (pure): SLA clocks that only tick inside working hours.

A :class:`BusinessCalendar` is the playbook's working window (e.g. 09:00–17:00, Monday to Friday, minus holidays)
in the playbook's time zone. :meth:`BusinessCalendar.add` moves a UTC instant forward by an amount of *working*
time; :meth:`BusinessCalendar.elapsed` measures the working time between two UTC instants. Windows are evaluated
in local wall-clock time and converted to UTC day by day, so daylight-saving changes shorten or lengthen nothing:
a 09:00–17:00 day is eight working hours on both sides of a DST switch.

Properties (tested with hypothesis): ``elapsed(s, add(s, d)) == d``; ``elapsed`` is additive
(``elapsed(a, b) + elapsed(b, c) == elapsed(a, c)``) and never exceeds wall-clock time; ``add`` is monotone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from funnelbridge.domain.clock import as_utc

__all__ = ["ALWAYS", "BusinessCalendar", "HoursLike", "add", "elapsed"]

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_DAYS = 366 * 20  # a search horizon that no SLA reaches; guards against calendars with no working day


class HoursLike(Protocol):
    """What a calendar is built from (the playbook's ``business_hours`` block fits)."""

    @property
    def start(self) -> str: ...
    @property
    def end(self) -> str: ...
    @property
    def days(self) -> Iterable[str]: ...
    @property
    def holidays(self) -> Iterable[str]: ...


def _parse_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class BusinessCalendar:
    """Working windows: ``start``–``end`` local time on ``weekdays`` (0 = Monday), except ``holidays``."""

    start: time = time(9)
    end: time = time(17)
    weekdays: frozenset[int] = frozenset(range(5))
    holidays: frozenset[date] = frozenset()
    tz: str = "UTC"
    always: bool = False

    def __post_init__(self) -> None:
        if not self.always and self.end <= self.start:
            raise ValueError(f"business hours must end after they start ({self.start} – {self.end})")

    @classmethod
    def from_hours(cls, hours: HoursLike, tz: str) -> BusinessCalendar:
        """Build from the playbook's ``business_hours`` and ``timezone``."""
        return cls(
            start=_parse_time(hours.start),
            end=_parse_time(hours.end),
            weekdays=frozenset(_DAY_NAMES.index(d) for d in hours.days),
            holidays=frozenset(date.fromisoformat(h) for h in hours.holidays),
            tz=tz,
        )

    def windows(self, since: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows (UTC) that end after ``since``, in order."""
        if self.always:
            yield as_utc(since), datetime.max.replace(tzinfo=UTC)
            return
        zone = ZoneInfo(self.tz)
        day = as_utc(since).astimezone(zone).date() - timedelta(days=1)
        for _ in range(_MAX_DAYS):
            if day.weekday() in self.weekdays and day not in self.holidays:
                lo = datetime.combine(day, self.start, zone).astimezone(UTC)
                hi = datetime.combine(day, self.end, zone).astimezone(UTC)
                if hi > since:
                    yield lo, hi
            day += timedelta(days=1)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant ``duration`` of working time after ``start`` (UTC)."""
        return add(start, duration, self)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time between ``start`` and ``end`` (zero when ``end`` is not after ``start``)."""
        return elapsed(start, end, self)


ALWAYS = BusinessCalendar(always=True)
"""A calendar where every instant is working time (SLAs without ``business_hours``)."""


def add(start: datetime, duration: timedelta, calendar: BusinessCalendar) -> datetime:
    """``start`` plus ``duration`` of working time. A zero duration returns ``start`` unchanged."""
    start = as_utc(start)
    if duration <= timedelta(0):
        return start
    if calendar.always:
        return start + duration
    left = duration
    for lo, hi in calendar.windows(start):
        begin = max(lo, start)
        if begin + left <= hi:
            return begin + left
        left -= hi - begin
    raise ValueError("the calendar has no working time (no weekdays outside holidays)")


def elapsed(start: datetime, end: datetime, calendar: BusinessCalendar) -> timedelta:
    """Working time in ``[start, end)``."""
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        return timedelta(0)
    if calendar.always:
        return end - start
    total = timedelta(0)
    for lo, hi in calendar.windows(start):
        if lo >= end:
            break
        total += min(hi, end) - max(lo, start)
    return total
