"""Wiring automation into a Runtime: subscribe the handler that turns domain events into SLA timers and rule
actions, inside the transaction that published them (so a rollback undoes both)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from funnelbridge.automation.engine import Engine
from funnelbridge.automation.timers import cancel_sla, schedule_sla
from funnelbridge.automation.triggers import occurrence_of
from funnelbridge.domain.events import DomainEvent, StageEntered, StageLeft
from funnelbridge.runtime import Runtime

__all__ = ["AutomationHandler", "install"]


@dataclass
class AutomationHandler:
    """The bus subscriber: SLA timers first (so a rule may rely on them), then the matching rules."""

    engine: Engine

    def __call__(self, conn: Connection, event: DomainEvent) -> None:
        playbook = self.engine.rt.playbook
        if isinstance(event, StageLeft):
            cancel_sla(conn, playbook, event)
        if isinstance(event, StageEntered):
            schedule_sla(conn, playbook, event)
        occ = occurrence_of(event)
        if occ is not None:
            self.engine.run(conn, occ)


def install(rt: Runtime) -> AutomationHandler:
    """Subscribe automation to ``rt.bus`` (once; calling again returns the installed handler)."""
    for handler in rt.bus.handlers:
        if isinstance(handler, AutomationHandler) and handler.engine.rt is rt:
            return handler
    handler = AutomationHandler(Engine(rt))
    rt.bus.subscribe(handler)
    return handler
