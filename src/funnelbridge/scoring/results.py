"""Score results: one row per (contact, score group) with its explanation, and the bands that classify it.

Classification of a group's points (shared by both scoring paths):

* ``total = fit + engagement + negative`` (negative points are ≤ 0);
* grade from the fit points (``Scoring.grade``: A ≥ grades.A, B ≥ grades.B, C ≥ grades.C, else D);
* temperature from the engagement points: hot ≥ temperature.hot, warm ≥ temperature.warm, else cold;
* quadrant: fit high (grade A/B) or low × engagement high (≥ mql.engagement) or low — ``sales_ready``,
  ``nurture_fit``, ``engaged_poor_fit``, ``low_priority``;
* MQL eligible: grade in mql.grades and engagement ≥ mql.engagement (and total ≥ mql.total when set).

A score's explanation is an :class:`Explanation`: its lines, given, or built on first use from a snapshot the
incremental scorer took when it scored (so the numbers are there at once and the text only when someone reads it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, overload

from funnelbridge.playbook.schema import Scoring

__all__ = [
    "QUADRANTS",
    "Classification",
    "Explanation",
    "GroupScore",
    "RulePoints",
    "classify",
    "group_score",
    "quadrant",
    "temperature",
]

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


class Explanation(Sequence[RulePoints]):
    """The lines of a score's explanation: given, or built on first use by ``build(*args)`` (which must read only
    ``args``, a snapshot taken when the score was made). Equal to any sequence of the same lines; pickles as its
    lines."""

    __slots__ = ("_args", "_build", "_lines")

    def __init__(
        self,
        lines: Iterable[RulePoints] = (),
        build: Callable[..., Iterable[RulePoints]] | None = None,
        args: tuple[Any, ...] = (),
    ) -> None:
        self._lines: tuple[RulePoints, ...] | None = None if build is not None else tuple(lines)
        self._build, self._args = build, args

    @property
    def lines(self) -> tuple[RulePoints, ...]:
        """The lines (built now if not yet)."""
        if self._lines is None:
            assert self._build is not None
            self._lines = tuple(self._build(*self._args))
            self._build, self._args = None, ()
        return self._lines

    @overload
    def __getitem__(self, index: int) -> RulePoints: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[RulePoints, ...]: ...
    def __getitem__(self, index: int | slice) -> RulePoints | tuple[RulePoints, ...]:
        return self.lines[index]

    def __len__(self) -> int:
        return len(self.lines)

    def __iter__(self) -> Iterator[RulePoints]:
        return iter(self.lines)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Explanation | tuple | list):
            return self.lines == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.lines)

    def __repr__(self) -> str:
        return f"Explanation({self.lines!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Explanation, (self.lines,))


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
    explanation: Sequence[RulePoints] = field(default_factory=tuple)
    """A tuple (full recompute, batch) or an :class:`Explanation` built on first use (incremental scorer)."""

    def explanation_json(self) -> list[dict[str, Any]]:
        return [item.to_dict() for item in self.explanation]


def temperature(scoring: Scoring, engagement: float) -> str:
    if engagement >= scoring.temperature.hot:
        return "hot"
    return "warm" if engagement >= scoring.temperature.warm else "cold"


def quadrant(grade: str, engagement: float, scoring: Scoring) -> str:
    return QUADRANTS[(grade in HIGH_FIT_GRADES, engagement >= scoring.mql.engagement)]


@dataclass(frozen=True)
class _Bands:
    """A Scoring's thresholds, read once per Scoring object (classify runs for every score)."""

    grades: tuple[tuple[str, float], ...]
    hot: float
    warm: float
    mql_engagement: float
    mql_grades: frozenset[str]
    mql_total: float | None


_BANDS: dict[int, tuple[Scoring, _Bands]] = {}


def _bands(scoring: Scoring) -> _Bands:
    hit = _BANDS.get(id(scoring))
    if hit is not None and hit[0] is scoring:
        return hit[1]
    mql, temp = scoring.mql, scoring.temperature
    bands = _Bands(
        tuple((letter, scoring.grades[letter]) for letter in ("A", "B", "C")),
        temp.hot, temp.warm, mql.engagement, frozenset(mql.grades), mql.total,
    )  # fmt: skip
    if len(_BANDS) > 64:
        _BANDS.clear()
    _BANDS[id(scoring)] = (scoring, bands)
    return bands


def _classes(scoring: Scoring, fit: float, engagement: float, negative: float) -> tuple[float, str, str, str, bool]:
    b = _bands(scoring)
    total = fit + engagement + negative
    grade = "D"
    for letter, least in b.grades:
        if fit >= least:
            grade = letter
            break
    engaged = engagement >= b.mql_engagement
    heat = "hot" if engagement >= b.hot else "warm" if engagement >= b.warm else "cold"
    eligible = grade in b.mql_grades and engaged and (b.mql_total is None or total >= b.mql_total)
    return total, grade, heat, QUADRANTS[(grade in HIGH_FIT_GRADES, engaged)], eligible


def classify(scoring: Scoring, fit: float, engagement: float, negative: float) -> Classification:
    """Total, grade, temperature, quadrant and MQL eligibility of a group's points."""
    return Classification(*_classes(scoring, fit, engagement, negative))


def group_score(
    scoring: Scoring, contact_id: int, group: str, fit: float, engagement: float, negative: float, as_of: datetime,
    version: str, explanation: Sequence[RulePoints],
) -> GroupScore:  # fmt: skip
    """A group's score from its points, classified as by :func:`classify`. Built without the frozen dataclass's
    ``__init__`` (one ``object.__setattr__`` per field: most of a rescore's cost on the incremental path, which makes
    one per group per event); the result is an ordinary ``GroupScore``."""
    total, grade, heat, quad, eligible = _classes(scoring, fit, engagement, negative)
    score = object.__new__(GroupScore)
    object.__setattr__(score, "__dict__", {
        "contact_id": contact_id, "group": group, "fit": fit, "engagement": engagement, "negative": negative,
        "total": total, "grade": grade, "temperature": heat, "quadrant": quad, "mql_eligible": eligible,
        "as_of": as_of, "playbook_version": version, "explanation": explanation,
    })  # fmt: skip
    return score
