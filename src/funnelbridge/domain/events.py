"""Domain events: what happened, emitted by scoring, lifecycle and deals inside the transaction that made the
change, and consumed by automation (which writes outbox rows in that same transaction).

Producers call ``bus.publish(conn, event)``; see :class:`EventBus`. The default bus in a Runtime dispatches
synchronously to subscribers (automation registers itself), so a rollback undoes both the change and its actions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

__all__ = [
    "DealLost",
    "DealStageChanged",
    "DealWon",
    "DomainEvent",
    "EventBus",
    "ScoreCrossed",
    "StageEntered",
    "StageLeft",
    "TemperatureChanged",
]


@dataclass(frozen=True)
class DomainEvent:
    contact_id: int
    at: datetime


@dataclass(frozen=True)
class StageEntered(DomainEvent):
    pipeline: str
    stage: str
    from_stage: str | None
    journey: int
    actor: str = "system"
    reason: str | None = None


@dataclass(frozen=True)
class StageLeft(DomainEvent):
    pipeline: str
    stage: str
    to_stage: str


@dataclass(frozen=True)
class ScoreCrossed(DomainEvent):
    score_group: str
    measure: str  # "total", "engagement", "fit"
    threshold: float
    old: float
    new: float

    @property
    def upward(self) -> bool:
        return self.new >= self.threshold > self.old


@dataclass(frozen=True)
class TemperatureChanged(DomainEvent):
    old: str
    new: str


@dataclass(frozen=True)
class DealStageChanged(DomainEvent):
    deal_id: int
    from_stage: str | None
    to_stage: str


@dataclass(frozen=True)
class DealWon(DomainEvent):
    deal_id: int
    amount: float


@dataclass(frozen=True)
class DealLost(DomainEvent):
    deal_id: int
    reason: str
    competitor: str | None = None


Handler = Callable[[Connection, DomainEvent], None]


@dataclass
class EventBus:
    """Synchronous, in-transaction dispatch of domain events to subscribers."""

    handlers: list[Handler] = field(default_factory=list)
    published: list[DomainEvent] | None = None  # set to [] to record (tests, simulator)

    def subscribe(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def publish(self, conn: Connection, event: DomainEvent) -> None:
        if self.published is not None:
            self.published.append(event)
        for handler in self.handlers:
            handler(conn, event)

    def payload(self, event: DomainEvent) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(event)
        data["type"] = type(event).__name__
        data["at"] = event.at.isoformat()
        return data
