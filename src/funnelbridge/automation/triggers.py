"""Triggers: turn domain events (and fired timers, inactivity scans) into :class:`Occurrence` values and find the
playbook's automation rules that match them. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from funnelbridge.domain.events import (
    DealLost,
    DealStageChanged,
    DealWon,
    DomainEvent,
    ScoreCrossed,
    StageEntered,
    StageLeft,
    TemperatureChanged,
)
from funnelbridge.playbook.schema import AutomationRule, Playbook, Trigger

__all__ = ["Occurrence", "matching_rules", "occurrence_of"]


@dataclass(frozen=True)
class Occurrence:
    """Something a rule can react to. ``key`` is deterministic, so the same occurrence yields the same outbox
    idempotency keys however often it is processed."""

    trigger: Trigger
    contact_id: int
    at: datetime
    key: str
    pipeline: str | None = None
    stage: str | None = None
    deal_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def _stage_event(event: StageEntered | StageLeft) -> Occurrence:
    trigger = Trigger.STAGE_ENTERED if isinstance(event, StageEntered) else Trigger.STAGE_LEFT
    key = f"{trigger.value}:{event.pipeline}:{event.contact_id}:{event.stage}:{event.at.isoformat()}"
    data: dict[str, Any] = {"from": getattr(event, "from_stage", None), "to": getattr(event, "to_stage", None)}
    if isinstance(event, StageEntered):
        data.update(journey=event.journey, actor=event.actor, reason=event.reason)
    return Occurrence(trigger, event.contact_id, event.at, key, event.pipeline, event.stage, data=data)


def _deal_event(event: DealStageChanged | DealWon | DealLost) -> Occurrence:
    if isinstance(event, DealStageChanged):
        trigger, stage = Trigger.DEAL_STAGE_CHANGED, event.to_stage
        data: dict[str, Any] = {"from": event.from_stage, "to": event.to_stage}
    elif isinstance(event, DealWon):
        trigger, stage, data = Trigger.DEAL_WON, "closed_won", {"amount": event.amount}
    else:
        trigger, stage = Trigger.DEAL_LOST, "closed_lost"
        data = {"reason": event.reason, "competitor": event.competitor}
    key = f"{trigger.value}:{event.deal_id}:{stage}:{event.at.isoformat()}"
    return Occurrence(trigger, event.contact_id, event.at, key, stage=stage, deal_id=event.deal_id, data=data)


def occurrence_of(event: DomainEvent) -> Occurrence | None:
    """The occurrence a domain event stands for (None for events automation does not react to)."""
    if isinstance(event, StageEntered | StageLeft):
        return _stage_event(event)
    if isinstance(event, DealStageChanged | DealWon | DealLost):
        return _deal_event(event)
    if isinstance(event, ScoreCrossed):
        data = {
            "group": event.score_group,
            "measure": event.measure,
            "threshold": event.threshold,
            "old": event.old,
            "new": event.new,
        }
        key = (
            f"score_crossed:{event.contact_id}:{event.score_group}:{event.measure}:{event.threshold:g}:"
            f"{event.at.isoformat()}"
        )
        return Occurrence(Trigger.SCORE_CROSSED, event.contact_id, event.at, key, data=data)
    if isinstance(event, TemperatureChanged):
        key = f"temperature_changed:{event.contact_id}:{event.new}:{event.at.isoformat()}"
        data = {"old": event.old, "new": event.new}
        return Occurrence(Trigger.TEMPERATURE_CHANGED, event.contact_id, event.at, key, data=data)
    return None


def _crossed(rule: AutomationRule, occ: Occurrence) -> bool:
    """Score rules fire on upward crossings of the main score's total past the rule's ``threshold`` (without a
    threshold: on any upward crossing the scorer reports)."""
    old, new = float(occ.data.get("old", 0.0)), float(occ.data.get("new", 0.0))
    if occ.data.get("group", "main") != "main" or not new > old:
        return False
    if rule.threshold is None:
        return True
    return occ.data.get("measure") == "total" and float(occ.data.get("threshold", -1.0)) == float(rule.threshold)


def _matches(rule: AutomationRule, occ: Occurrence) -> bool:
    if rule.on is not occ.trigger:
        return False
    if rule.pipeline is not None and occ.pipeline is not None and rule.pipeline != occ.pipeline:
        return False
    if rule.stage is not None and rule.stage != occ.stage:
        return False
    if occ.trigger is Trigger.SCORE_CROSSED:
        return _crossed(rule, occ)
    return True


def matching_rules(playbook: Playbook, occ: Occurrence) -> list[tuple[int, AutomationRule]]:
    """The playbook's rules (with their index) whose trigger, stage, pipeline and threshold fit ``occ``;
    ``when`` conditions are checked by the caller, which has the lead's facts."""
    return [(i, rule) for i, rule in enumerate(playbook.automation) if _matches(rule, occ)]
