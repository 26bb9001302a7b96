"""Time as a seam: the engine asks a Clock for "now", so tests and simulations control time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FrozenClock", "SystemClock", "as_utc", "utcnow"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Make ``value`` timezone-aware UTC (naive values are taken as UTC already)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return utcnow()


@dataclass
class FrozenClock:
    """A clock that only moves when told to (the in-memory fake for tests and the demo simulator)."""

    current: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        self.current = as_utc(self.current)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        self.current += delta
        return self.current

    def set(self, value: datetime) -> None:
        self.current = as_utc(value)
