"""Score results: one row per (contact, score group) with its explanation, and the bands that classify it.

Classification of a group's points (shared by both scoring paths):

* ``total = fit + engagement + negative`` (negative points are ≤ 0);
* grade from the fit points (``Scoring.grade``: A ≥ grades.A, B ≥ grades.B, C ≥ grades.C, else D);
* temperature from the engagement points: hot ≥ temperature.hot, warm ≥ temperature.warm, else cold;
* quadrant: fit high (grade A/B) or low × engagement high (≥ mql.engagement) or low — ``sales_ready``,
  ``nurture_fit``, ``engaged_poor_fit``, ``low_priority``;
* MQL eligible: grade in mql.grades and engagement ≥ mql.engagement (and total ≥ mql.total when set).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from funnelbridge.playbook.schema import Scoring

__all__ = ["QUADRANTS", "Classification", "GroupScore", "RulePoints", "classify", "quadrant", "temperature"]

QUADRANTS = {
    (True, True): "sales_ready",
    (True, False): "nurture_fit",
    (False, True): "engaged_poor_fit",
    (False, False): "low_priority",
}
HIGH_FIT_GRADES = ("A", "B")


@dataclass(frozen=True)
class RulePoints:
    """One line of a score's explanation: what a rule gave and when that changes."""

    rule: str
    kind: str  # fit | engagement | negative
    points: float
    raw_points: float | None = None  # event rules: earned before decay and the total cap
    events: int | None = None  # event rules: matching events counted
    half_life_days: float | None = None
    halves_at: str | None = None  # ISO time when these points have halved (half-life rules)
    expires_at: str | None = None  # ISO time when the next counted event expires (expiry rules)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RulePoints:
        return cls(**data)


@dataclass(frozen=True)
class Classification:
    total: float
    grade: str
    temperature: str
    quadrant: str
    mql_eligible: bool


@dataclass(frozen=True)
class GroupScore:
    """The score of one group (``main`` or a named group) of one contact at ``as_of``."""

    contact_id: int
    group: str
    fit: float
    engagement: float
    negative: float
    total: float
    grade: str
    temperature: str
    quadrant: str
    mql_eligible: bool
    as_of: datetime
    playbook_version: str
    explanation: tuple[RulePoints, ...] = field(default_factory=tuple)

    def explanation_json(self) -> list[dict[str, Any]]:
        return [item.to_dict() for item in self.explanation]


def temperature(scoring: Scoring, engagement: float) -> str:
    if engagement >= scoring.temperature.hot:
        return "hot"
    return "warm" if engagement >= scoring.temperature.warm else "cold"


def quadrant(grade: str, engagement: float, scoring: Scoring) -> str:
    return QUADRANTS[(grade in HIGH_FIT_GRADES, engagement >= scoring.mql.engagement)]


def classify(scoring: Scoring, fit: float, engagement: float, negative: float) -> Classification:
    """Total, grade, temperature, quadrant and MQL eligibility of a group's points."""
    total = fit + engagement + negative
    grade = scoring.grade(fit)
    mql = scoring.mql
    eligible = grade in mql.grades and engagement >= mql.engagement and (mql.total is None or total >= mql.total)
    return Classification(
        total, grade, temperature(scoring, engagement), quadrant(grade, engagement, scoring), eligible
    )
