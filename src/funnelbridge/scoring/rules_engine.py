"""The incremental rule scorer: one lead's facts → its score per group, in O(rules × that lead's events).

Event rules follow :mod:`funnelbridge.scoring.decay`: take the rule's matching events up to ``as_of`` in time
order (only the earliest when the rule is not repeatable); each earns ``points``, limited by the per-day cap of
its calendar day in the playbook's time zone; earned points then decay by the event's age (or count in full
until they expire); the rule's sum is limited to its total cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from funnelbridge.playbook.schema import Playbook, Scoring
from funnelbridge.rules.facts import EventFact, LeadFacts
from funnelbridge.rules.python import EventPredicate, Predicate, compile_event_predicate, compile_predicate
from funnelbridge.scoring.decay import SECONDS_PER_DAY, capped_total, day_earned, decay_factor, is_expired
from funnelbridge.scoring.results import GroupScore, RulePoints, group_score
from funnelbridge.scoring.ruleset import AttributeRule, EventRule, RuleSet, rule_sets

__all__ = [
    "CompiledRuleSet",
    "compile_scoring",
    "event_points",
    "events_by_type",
    "score_event_rule",
    "score_facts",
    "score_group",
    "zone",
]


@dataclass(frozen=True)
class CompiledRuleSet:
    rules: RuleSet
    attribute_predicates: tuple[Predicate, ...]
    event_predicates: tuple[EventPredicate | None, ...]


_CACHE: dict[int, tuple[Scoring, tuple[CompiledRuleSet, ...]]] = {}


def compile_scoring(scoring: Scoring) -> tuple[CompiledRuleSet, ...]:
    """Compile every group's predicates once per Scoring object (cached)."""
    hit = _CACHE.get(id(scoring))
    if hit is not None and hit[0] is scoring:
        return hit[1]
    compiled = tuple(
        CompiledRuleSet(
            rs,
            tuple(compile_predicate(r.when) for r in rs.attribute_rules),
            tuple(compile_event_predicate(r.where) if r.where is not None else None for r in rs.event_rules),
        )
        for rs in rule_sets(scoring)
    )
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[id(scoring)] = (scoring, compiled)
    return compiled


def _age_days(as_of: datetime, at: datetime) -> float:
    return (as_of - at).total_seconds() / SECONDS_PER_DAY


def score_event_rule(
    rule: EventRule, where: EventPredicate | None, events: Sequence[EventFact], as_of: datetime, tz: ZoneInfo
) -> RulePoints | None:
    """The points one event rule gives a lead at ``as_of``; None when no unexpired event matches.

    ``events`` may be all the lead's events or only those of the rule's type, oldest first."""
    matched = [e for e in events if e.type == rule.event and e.occurred_at <= as_of and (where is None or where(e))]
    if not matched:
        return None
    if not rule.repeatable:
        matched = [min(matched, key=lambda e: e.occurred_at)]
    per_day: dict[object, int] = {}
    value = raw = 0.0
    counted, next_expiry = 0, None
    for e in matched:
        earned = rule.points
        if rule.per_day is not None:
            day = e.occurred_at.astimezone(tz).date()
            earned = day_earned(rule.points, per_day.get(day, 0), rule.per_day)
            per_day[day] = per_day.get(day, 0) + 1
        age = _age_days(as_of, e.occurred_at)
        if is_expired(age, rule.expires_days):
            continue
        counted += 1
        raw += earned
        value += earned * decay_factor(age, rule.half_life_days)
        if rule.expires_days is not None and earned != 0:
            ends = e.occurred_at + timedelta(days=rule.expires_days)
            next_expiry = ends if next_expiry is None else min(next_expiry, ends)
    if counted == 0:
        return None
    return event_points(rule, capped_total(value, rule.total), raw, counted, as_of, next_expiry)


def event_points(
    rule: EventRule, points: float, raw: float, counted: int, as_of: datetime, next_expiry: datetime | None
) -> RulePoints:
    half = rule.half_life_days
    return RulePoints(
        rule=rule.name,
        kind=rule.kind,
        points=points,
        raw_points=raw,
        events=counted,
        half_life_days=half,
        halves_at=(as_of + timedelta(days=half)).isoformat() if half is not None and counted else None,
        expires_at=next_expiry.isoformat() if next_expiry is not None else None,
    )


def _attribute_points(rule: AttributeRule, predicate: Predicate, facts: LeadFacts) -> RulePoints | None:
    return RulePoints(rule.name, rule.kind, rule.points) if predicate(facts) else None


def events_by_type(facts: LeadFacts) -> dict[str, list[EventFact]]:
    """The lead's events grouped by type, oldest first (so each event rule reads only its own type)."""
    grouped: dict[str, list[EventFact]] = {}
    for e in sorted(facts.events, key=lambda e: e.occurred_at):
        grouped.setdefault(e.type, []).append(e)
    return grouped


def score_group(
    compiled: CompiledRuleSet,
    scoring: Scoring,
    facts: LeadFacts,
    tz: ZoneInfo,
    *,
    contact_id: int,
    version: str,
    by_type: dict[str, list[EventFact]] | None = None,
) -> GroupScore:
    """Score one group of one lead."""
    by_type = by_type if by_type is not None else events_by_type(facts)
    items: list[RulePoints] = []
    for rule, pred in zip(compiled.rules.attribute_rules, compiled.attribute_predicates, strict=True):
        item = _attribute_points(rule, pred, facts)
        if item is not None:
            items.append(item)
    for erule, where in zip(compiled.rules.event_rules, compiled.event_predicates, strict=True):
        eitem = score_event_rule(erule, where, by_type.get(erule.event, ()), facts.as_of, tz)
        if eitem is not None:
            items.append(eitem)
    sums = {"fit": 0.0, "engagement": 0.0, "negative": 0.0}
    for item in items:
        sums[item.kind] += item.points
    return group_score(
        scoring, contact_id, compiled.rules.group, sums["fit"], sums["engagement"], sums["negative"], facts.as_of,
        version, tuple(items),
    )  # fmt: skip


def score_facts(playbook: Playbook, facts: LeadFacts, *, contact_id: int = 0) -> tuple[GroupScore, ...]:
    """Score a lead in every group of the playbook (main first)."""
    tz, by_type = zone(playbook.timezone), events_by_type(facts)
    return tuple(
        score_group(c, playbook.scoring, facts, tz, contact_id=contact_id, version=playbook.version, by_type=by_type)
        for c in compile_scoring(playbook.scoring)
    )


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
