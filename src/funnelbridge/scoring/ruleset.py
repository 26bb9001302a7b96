"""A score group's rules, normalized: attribute rules (fit, negative ``when``) and event rules (engagement,
negative ``event``), with names, durations in days and caps resolved — the one description both scoring paths
(incremental :mod:`~funnelbridge.scoring.rules_engine`, batch :mod:`~funnelbridge.scoring.batch`) read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from funnelbridge.domain.durations import parse_duration
from funnelbridge.playbook.schema import EngagementRule, FitRule, NegativeRule, ScoreGroup, Scoring
from funnelbridge.rules.ast import AllOf, AnyOf, FieldCondition, NotOf

__all__ = ["MAIN_GROUP", "AttributeRule", "EventRule", "RuleSet", "rule_set", "rule_sets"]

MAIN_GROUP = "main"
Kind = Literal["fit", "engagement", "negative"]
Node = FieldCondition | AllOf | AnyOf | NotOf


@dataclass(frozen=True)
class AttributeRule:
    """Points when a lead-level condition holds (fit rules, negative ``when`` rules)."""

    name: str
    kind: Kind
    when: Node
    points: float


@dataclass(frozen=True)
class EventRule:
    """Points per matching event, with caps and a decay (engagement rules, negative ``event`` rules)."""

    name: str
    kind: Kind
    event: str
    where: Node | None
    points: float
    repeatable: bool
    per_day: float | None
    total: float | None
    half_life_days: float | None
    expires_days: float | None


@dataclass(frozen=True)
class RuleSet:
    """The rules of one score group (``main`` or a named group)."""

    group: str
    attribute_rules: tuple[AttributeRule, ...]
    event_rules: tuple[EventRule, ...]


def _days(text: str | None) -> float | None:
    return None if text is None else parse_duration(text).total_seconds() / 86400.0


def _event_rule(rule: EngagementRule | NegativeRule, name: str, kind: Kind) -> EventRule:
    assert rule.event is not None
    cap = rule.cap
    return EventRule(
        name=name,
        kind=kind,
        event=rule.event,
        where=rule.where,
        points=float(rule.points),
        repeatable=rule.repeatable,
        per_day=cap.per_day if cap else None,
        total=cap.total if cap else None,
        half_life_days=_days(rule.half_life),
        expires_days=_days(rule.expires_after),
    )


class _Names:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, given: str | None, fallback: str) -> str:
        name = given or fallback
        base, n = name, 2
        while name in self.seen:
            name, n = f"{base} ({n})", n + 1
        self.seen.add(name)
        return name


def rule_set(
    group: str, fit: tuple[FitRule, ...], engagement: tuple[EngagementRule, ...], negative: tuple[NegativeRule, ...]
) -> RuleSet:
    """Normalize one group's rules; unnamed rules are called after their kind and event (``engagement: page_view``)."""
    names = _Names()
    attrs = [AttributeRule(names(r.name, f"fit #{i + 1}"), "fit", r.when, float(r.points)) for i, r in enumerate(fit)]
    events = [_event_rule(r, names(r.name, f"engagement: {r.event}"), "engagement") for r in engagement]
    for i, neg in enumerate(negative):
        if neg.when is not None:
            attrs.append(AttributeRule(names(neg.name, f"negative #{i + 1}"), "negative", neg.when, float(neg.points)))
        else:
            events.append(_event_rule(neg, names(neg.name, f"negative: {neg.event}"), "negative"))
    return RuleSet(group, tuple(attrs), tuple(events))


def rule_sets(scoring: Scoring) -> tuple[RuleSet, ...]:
    """The main rule set, then one per named score group (groups share the main grades/bands/thresholds)."""
    main = rule_set(MAIN_GROUP, scoring.fit, scoring.engagement, scoring.negative)
    groups: list[RuleSet] = []
    for name, grp in scoring.groups.items():
        assert isinstance(grp, ScoreGroup)
        groups.append(rule_set(name, grp.fit, grp.engagement, grp.negative))
    return (main, *groups)
