"""The Runtime: what every use case needs, passed in explicitly — the store, the active playbook, a clock and the
domain-event bus. Entry points (CLI, API, demo) build one; library code never reads global state."""

from __future__ import annotations

from dataclasses import dataclass, field

from funnelbridge.domain.clock import Clock, SystemClock
from funnelbridge.domain.events import EventBus
from funnelbridge.playbook.schema import Playbook
from funnelbridge.store.db import Database

__all__ = ["Runtime"]


@dataclass
class Runtime:
    db: Database
    playbook: Playbook
    clock: Clock = field(default_factory=SystemClock)
    bus: EventBus = field(default_factory=EventBus)
