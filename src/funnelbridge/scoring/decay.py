"""Time decay, hard expiry and per-day caps of event points — the arithmetic both scoring paths share.

* decay: ``points × 0.5 ** (age / half_life)``, age in days from the event to ``as_of``;
* expiry: full points while ``age <= expires_after`` (inclusive), nothing once ``age > expires_after``;
* per-day cap: the events of one calendar day (playbook time zone) earn points in time order until the day's
  cap is used up; the event that crosses the cap earns the remainder, later ones earn nothing.
"""

from __future__ import annotations

import math

__all__ = ["SECONDS_PER_DAY", "capped_total", "day_earned", "decay_factor", "is_expired"]

SECONDS_PER_DAY = 86400.0


def decay_factor(age_days: float, half_life_days: float | None) -> float:
    """``0.5 ** (age / half_life)``; 1 without a half-life."""
    if half_life_days is None:
        return 1.0
    return math.pow(0.5, age_days / half_life_days)


def is_expired(age_days: float, expires_days: float | None) -> bool:
    """True once the event is older than the expiry (an event exactly ``expires_after`` old still counts)."""
    return expires_days is not None and age_days > expires_days


def day_earned(points: float, earlier_today: int, per_day: float | None) -> float:
    """Raw points an event earns when ``earlier_today`` matching events came before it that day."""
    if per_day is None:
        return points
    magnitude = min(abs(points), max(0.0, per_day - earlier_today * abs(points)))
    return math.copysign(magnitude, points)


def capped_total(value: float, total: float | None) -> float:
    """The rule's contribution, its magnitude limited to ``total``."""
    if total is None or abs(value) <= total:
        return value
    return math.copysign(total, value)
