"""Values of the lifecycle: who acts, what a move is, and the named results of commands."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, get_args

from funnelbridge.errors import InputError

__all__ = ["SYSTEM", "Actor", "DealResult", "QueueItem", "Role", "Transition"]

Role = Literal["system", "marketing", "sales", "admin"]
_ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True)
class Actor:
    """Who makes a move: a user (by email or name) with a role, or the engine itself."""

    name: str
    role: Role = "system"

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise InputError(f"must be one of {', '.join(_ROLES)}, got {self.role!r}", record="actor", field="role")
        if not self.name.strip():
            raise InputError("must not be empty", record="actor", field="name")


SYSTEM = Actor("system", "system")


@dataclass(frozen=True)
class Transition:
    """One stage move as stored in the append-only trail."""

    contact_id: int
    pipeline: str
    journey: int
    from_stage: str | None
    to_stage: str
    at: datetime
    actor: str
    actor_role: str
    reason: str | None = None
    note: str | None = None
    skipped: tuple[str, ...] = ()
    playbook_version: str = ""
    idempotency_key: str | None = None
    id: int | None = None
    kind: str | None = field(default=None, compare=False)
    imported_at: datetime | None = None
    """When an imported move (actor ``import``: :mod:`funnelbridge.ingest.history`) was written — its ``at`` is the
    source system's date; None for live moves (and for moves imported before the trail recorded it)."""


@dataclass(frozen=True)
class DealResult:
    """The state of a deal after a command, and the stage moves the command made."""

    deal_id: int
    contact_id: int | None
    pipeline: str
    stage: str
    status: str
    amount: Decimal
    currency: str
    probability: float
    transitions: tuple[Transition, ...] = ()
    replayed: bool = False


@dataclass(frozen=True)
class QueueItem:
    """An MQL waiting for a sales decision, with the handoff SLA clock."""

    contact_id: int
    pipeline: str
    stage: str
    email: str | None
    name: str
    company: str | None
    entered_at: datetime
    waiting: timedelta
    sla_due_at: datetime | None
    sla_left: timedelta | None
    owner_id: int | None
    score_total: float | None
    grade: str | None

    @property
    def breached(self) -> bool:
        return self.sla_left is not None and self.sla_left <= timedelta(0)
