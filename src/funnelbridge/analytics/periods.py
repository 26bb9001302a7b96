"""Report periods and calendar buckets, evaluated in the playbook's time zone and turned into UTC instants.

Engines disagree on time zones (SQLite has none, Spark has a session zone), so the reports never convert
timestamps inside the database: every boundary — a period's start and end, each week or month of a cohort — is
computed here in the playbook's zone, turned into UTC epoch seconds, and compared with the stored UTC times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from funnelbridge.errors import InputError

__all__ = ["Bucket", "Grain", "Period", "buckets", "epoch", "in_period", "parse_period"]

_MAX_BUCKETS = 520


class Grain(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


@dataclass(frozen=True)
class Period:
    """A half-open UTC interval ``[start, end)``; ``None`` ends are open."""

    label: str
    start: datetime | None = None
    end: datetime | None = None

    @property
    def start_s(self) -> int | None:
        return None if self.start is None else epoch(self.start)

    @property
    def end_s(self) -> int | None:
        return None if self.end is None else epoch(self.end)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "label": self.label,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
        }


@dataclass(frozen=True)
class Bucket:
    label: str
    start_s: int
    end_s: int


def epoch(value: datetime) -> int:
    """Whole UTC epoch seconds (floor), the unit every report compares in."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return int(aware.timestamp() // 1)


def _local(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _month_start(day: date, months: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def floor_day(day: date, grain: Grain) -> date:
    if grain is Grain.WEEK:
        return day - timedelta(days=day.weekday())
    if grain is Grain.MONTH:
        return day.replace(day=1)
    if grain is Grain.QUARTER:
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return day


def next_day(day: date, grain: Grain) -> date:
    if grain is Grain.WEEK:
        return day + timedelta(days=7)
    if grain is Grain.MONTH:
        return _month_start(day, 1)
    if grain is Grain.QUARTER:
        return _month_start(day, 3)
    return day + timedelta(days=1)


def bucket_label(day: date, grain: Grain) -> str:
    if grain is Grain.WEEK:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if grain is Grain.MONTH:
        return f"{day.year}-{day.month:02d}"
    if grain is Grain.QUARTER:
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return day.isoformat()


def buckets(grain: Grain, first: datetime, last: datetime, tz: ZoneInfo) -> list[Bucket]:
    """Calendar buckets (local to ``tz``) covering the instants ``first`` .. ``last``."""
    day = floor_day(first.astimezone(tz).date(), grain)
    stop = last.astimezone(tz).date()
    out: list[Bucket] = []
    while day <= stop and len(out) < _MAX_BUCKETS:
        nxt = next_day(day, grain)
        out.append(Bucket(bucket_label(day, grain), epoch(_local(day, tz)), epoch(_local(nxt, tz))))
        day = nxt
    return out


def _span(label: str, first: date, after: date, tz: ZoneInfo) -> Period:
    return Period(label, _local(first, tz), _local(after, tz))


def _relative(text: str, now: datetime, tz: ZoneInfo) -> Period | None:
    today = now.astimezone(tz).date()
    match = re.fullmatch(r"last-(\d+)d", text)
    if match:
        days = int(match.group(1))
        return _span(text, today - timedelta(days=days - 1), today + timedelta(days=1), tz)
    for prefix, shift in (("this-", 0), ("last-", -1)):
        for grain in (Grain.WEEK, Grain.MONTH, Grain.QUARTER):
            if text == f"{prefix}{grain.value}":
                start = floor_day(today, grain)
                for _ in range(-shift):
                    start = floor_day(start - timedelta(days=1), grain)
                return _span(text, start, next_day(start, grain), tz)
    return None


def _absolute(text: str, tz: ZoneInfo) -> Period | None:
    if re.fullmatch(r"\d{4}", text):
        return _span(text, date(int(text), 1, 1), date(int(text) + 1, 1, 1), tz)
    if match := re.fullmatch(r"(\d{4})-Q([1-4])", text):
        first = date(int(match.group(1)), 3 * int(match.group(2)) - 2, 1)
        return _span(text, first, _month_start(first, 3), tz)
    if match := re.fullmatch(r"(\d{4})-W(\d{2})", text):
        first = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
        return _span(text, first, first + timedelta(days=7), tz)
    if re.fullmatch(r"\d{4}-\d{2}", text):
        first = date.fromisoformat(f"{text}-01")
        return _span(text, first, _month_start(first, 1), tz)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = date.fromisoformat(text)
        return _span(text, day, day + timedelta(days=1), tz)
    if ".." in text:
        left, right = text.split("..", 1)
        first, last = date.fromisoformat(left), date.fromisoformat(right)
        if last < first:
            raise InputError("the period ends before it starts", field="period")
        return _span(text, first, last + timedelta(days=1), tz)
    return None


def parse_period(text: str | None, tz: ZoneInfo, now: datetime) -> Period:
    """Parse ``2026``, ``2026-Q1``, ``2026-03``, ``2026-W09``, ``2026-03-05``, ``2026-01-01..2026-03-31`` (end day
    included), ``last-30d``, ``this-month``, ``last-quarter`` ...; ``None``/``all`` is all time. Days are local to
    ``tz``."""
    if text is None or text.strip().lower() in ("", "all"):
        return Period("all time")
    cleaned = text.strip().lower().replace("q", "Q").replace("w", "W") if text[:1].isdigit() else text.strip()
    try:
        found = _absolute(cleaned, tz) or _relative(cleaned.lower(), now, tz)
    except ValueError as exc:
        raise InputError(f"{text!r} is not a valid period ({exc})", field="period") from None
    if found is None:
        raise InputError(
            f"{text!r} is not a period: use 2026, 2026-Q1, 2026-03, 2026-W09, 2026-03-05, "
            "2026-01-01..2026-03-31, last-30d, this-month, last-quarter or all",
            field="period",
        )
    return found


def in_period(value: Any, period: Period) -> Any:
    """Ibis condition: the epoch-seconds ``value`` is set and falls in ``period`` (start inclusive, end exclusive)."""
    cond = value.notnull()
    if period.start_s is not None:
        cond = cond & (value >= period.start_s)
    if period.end_s is not None:
        cond = cond & (value < period.end_s)
    return cond
