"""Wiring automation into a Runtime: subscribe the handler that turns domain events into SLA timers and rule
actions, inside the transaction that published them (so a rollback undoes both)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from funnelbridge.automation.engine import Engine
from funnelbridge.automation.timers import cancel_sla, schedule_sla
from funnelbridge.automation.triggers import occurrence_of
from funnelbridge.domain.events import DomainEvent, StageEntered, StageLeft
from funnelbridge.playbook.schema import Playbook, Trigger
from funnelbridge.runtime import Runtime

__all__ = ["AutomationHandler", "install"]


@dataclass
class AutomationHandler:
    """The bus subscriber: SLA timers first (so a rule may rely on them), then the matching rules."""

    engine: Engine
    _stages: tuple[Playbook, dict[Trigger, set[str | None]]] | None = field(default=None, repr=False)

    def __call__(self, conn: Connection, event: DomainEvent) -> None:
        playbook = self.engine.rt.playbook
        writes = self.engine.writes
        if isinstance(event, StageLeft):
            cancel_sla(conn, playbook, event, writes)
        if isinstance(event, StageEntered):
            schedule_sla(conn, playbook, event, writes)
        if isinstance(event, StageEntered | StageLeft) and not self._may_match(event):
            return  # no rule reacts to this stage (most moves of a drain): no occurrence to build
        occ = occurrence_of(event)
        if occ is not None:
            self.engine.run(conn, occ)

    def _may_match(self, event: StageEntered | StageLeft) -> bool:
        """Whether a rule of the playbook is on this stage trigger for this stage (or for any stage)."""
        playbook = self.engine.rt.playbook
        if self._stages is None or self._stages[0] is not playbook:
            on: dict[Trigger, set[str | None]] = {}
            for rule in playbook.automation:
                on.setdefault(rule.on, set()).add(rule.stage)
            self._stages = (playbook, on)
        trigger = Trigger.STAGE_ENTERED if isinstance(event, StageEntered) else Trigger.STAGE_LEFT
        stages = self._stages[1].get(trigger, ())
        return None in stages or event.stage in stages

    def batch(self, conn: Connection, facts: Mapping[int, Any] | None = None) -> AbstractContextManager[Any]:
        """Handle the events published within the block as a batch (:meth:`Engine.batched`): for publishers of
        many events at once, e.g. :func:`funnelbridge.lifecycle.batch.write_moves`."""
        return self.engine.batched(conn, facts)


def install(rt: Runtime) -> AutomationHandler:
    """Subscribe automation to ``rt.bus`` (once; calling again returns the installed handler)."""
    for handler in rt.bus.handlers:
        if isinstance(handler, AutomationHandler) and handler.engine.rt is rt:
            return handler
    handler = AutomationHandler(Engine(rt))
    rt.bus.subscribe(handler)
    return handler
