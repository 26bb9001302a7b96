"""Which score changes cross a threshold: the domain events a rescore publishes.

Thresholds of the main score: the MQL engagement threshold and the temperature bands (measure ``engagement``),
the MQL total threshold when set and every automation ``score_crossed`` threshold (measure ``total``). A lead
never scored before counts as 0 points and ``cold``. Crossing means old and new lie on different sides:
``old < threshold <= new`` (upward) or ``new < threshold <= old`` (downward).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from funnelbridge.domain.events import DomainEvent, ScoreCrossed, TemperatureChanged
from funnelbridge.playbook.schema import Playbook, Trigger

__all__ = ["ScoreSnapshot", "crossings", "thresholds"]


@dataclass(frozen=True)
class ScoreSnapshot:
    engagement: float
    total: float
    temperature: str


NEVER_SCORED = ScoreSnapshot(0.0, 0.0, "cold")


_CACHE: dict[int, tuple[Playbook, tuple[tuple[str, float], ...]]] = {}


def thresholds(playbook: Playbook) -> tuple[tuple[str, float], ...]:
    """``(measure, threshold)`` pairs watched on the main score, without repeats, in a stable order (worked out
    once per playbook object: every rescored lead asks)."""
    hit = _CACHE.get(id(playbook))
    if hit is not None and hit[0] is playbook:
        return hit[1]
    if len(_CACHE) > 32:
        _CACHE.clear()
    found = _CACHE[id(playbook)] = (playbook, _thresholds(playbook))
    return found[1]


def _thresholds(playbook: Playbook) -> tuple[tuple[str, float], ...]:
    sc = playbook.scoring
    found = [("engagement", sc.mql.engagement), ("engagement", sc.temperature.warm), ("engagement", sc.temperature.hot)]
    if sc.mql.total is not None:
        found.append(("total", sc.mql.total))
    found += [("total", r.threshold) for r in playbook.automation if r.on == Trigger.SCORE_CROSSED and r.threshold]
    return tuple(dict.fromkeys((m, float(t)) for m, t in found))


def crossings(
    playbook: Playbook, contact_id: int, at: datetime, old: ScoreSnapshot | None, new: ScoreSnapshot
) -> list[DomainEvent]:
    """The ScoreCrossed / TemperatureChanged events of a change from ``old`` to ``new`` (main group)."""
    old = old or NEVER_SCORED
    out: list[DomainEvent] = []
    for measure, limit in thresholds(playbook):
        before, after = getattr(old, measure), getattr(new, measure)
        if (before < limit) != (after < limit):
            out.append(ScoreCrossed(contact_id, at, "main", measure, limit, before, after))
    if old.temperature != new.temperature:
        out.append(TemperatureChanged(contact_id, at, old.temperature, new.temperature))
    return out
