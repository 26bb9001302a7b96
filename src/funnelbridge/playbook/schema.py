"""The playbook schema: validated, immutable pydantic models of ``playbook.yaml``.

The playbook is the contract between marketing and sales: stages and their entry criteria, the lead-scoring model,
MQL thresholds, handoff SLAs and reasons, routing, automation and nurture. Conditions use the rule AST of
:mod:`funnelbridge.rules.ast`. Durations are written ``15s``, ``5m``, ``24h``, ``14d``, ``2w``.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from funnelbridge.domain.durations import parse_duration
from funnelbridge.rules.ast import Condition

__all__ = [
    "Actor",
    "AutomationRule",
    "BusinessHours",
    "Cap",
    "DealStage",
    "EngagementRule",
    "FitRule",
    "Handoff",
    "MqlThreshold",
    "NegativeRule",
    "NurtureStep",
    "Pipeline",
    "Playbook",
    "RoutingRule",
    "ScoreGroup",
    "Scoring",
    "Sla",
    "Stage",
    "Team",
    "Temperature",
    "Trigger",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _duration(value: Any) -> str:
    parse_duration(value)
    return str(value)


class Team(StrEnum):
    MARKETING = "marketing"
    SALES = "sales"
    CS = "cs"


class Actor(StrEnum):
    """Who may make a move: the engine itself, a team, or an admin (admins may do anything)."""

    SYSTEM = "system"
    MARKETING = "marketing"
    SALES = "sales"
    ADMIN = "admin"


class Sla(_Frozen):
    """A handoff SLA: decide (accept/reject) or first-touch within a time, optionally in business hours."""

    decide_within: str | None = None
    first_touch_within: str | None = None
    remind_before: str | None = None
    business_hours: bool = False

    _check = field_validator("decide_within", "first_touch_within", "remind_before")(
        lambda v: None if v is None else _duration(v)
    )


class Stage(_Frozen):
    """One stage of a pipeline, in order."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str | None = None
    owner: Team = Team.MARKETING
    by: Actor = Actor.SYSTEM
    enter_when: Condition | None = None
    requires: tuple[str, ...] = ()
    sla: Sla | None = None

    @property
    def title(self) -> str:
        """Display name: the label, or the id (short ids such as mql read as upper-case)."""
        if self.label:
            return self.label
        return self.id.upper() if len(self.id) <= 3 else self.id.replace("_", " ")


class DealStage(_Frozen):
    id: str
    probability: float = Field(ge=0, le=1)


DEFAULT_DEAL_STAGES = (
    DealStage(id="prospecting", probability=0.1),
    DealStage(id="qualification", probability=0.2),
    DealStage(id="meeting", probability=0.4),
    DealStage(id="proposal", probability=0.6),
    DealStage(id="negotiation", probability=0.8),
)


class Pipeline(_Frozen):
    """An ordered list of stages plus the detours (recycle/disqualify) a lead can take out of them."""

    stages: tuple[Stage, ...] = Field(min_length=1)
    detours: tuple[str, ...] = ("recycled", "disqualified")
    stall_after: dict[str, str] = Field(default_factory=dict)
    deal_stages: tuple[DealStage, ...] = DEFAULT_DEAL_STAGES
    handoff_stage: str | None = None

    @field_validator("stall_after")
    @classmethod
    def _durations(cls, value: dict[str, str]) -> dict[str, str]:
        return {k: _duration(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> Pipeline:
        ids = [s.id for s in self.stages]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"stage ids must be unique, repeated: {', '.join(dupes)}")
        clash = set(ids) & set(self.detours)
        if clash:
            raise ValueError(f"detour names clash with stage ids: {', '.join(sorted(clash))}")
        unknown = sorted(set(self.stall_after) - set(ids))
        if unknown:
            raise ValueError(f"stall_after names unknown stages: {', '.join(unknown)} (stages: {', '.join(ids)})")
        if self.handoff_stage is not None and self.handoff_stage not in ids:
            raise ValueError(f"handoff_stage {self.handoff_stage!r} is not a stage")
        return self

    @property
    def stage_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.stages)

    def stage(self, stage_id: str) -> Stage:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    def index(self, stage_id: str) -> int:
        return self.stage_ids.index(stage_id)

    @property
    def handoff(self) -> str | None:
        """The first stage owned by sales (where marketing hands over), unless set explicitly."""
        if self.handoff_stage:
            return self.handoff_stage
        return next((s.id for s in self.stages if s.owner == Team.SALES), None)

    def stall_limit(self, stage_id: str) -> timedelta | None:
        raw = self.stall_after.get(stage_id)
        return None if raw is None else parse_duration(raw)


class FitRule(_Frozen):
    """Explicit (fit) points: when the condition holds, add ``points``."""

    name: str | None = None
    when: Condition
    points: float


class Cap(_Frozen):
    per_day: float | None = Field(default=None, gt=0)
    total: float | None = Field(default=None, gt=0)


class EngagementRule(_Frozen):
    """Implicit (interest) points per matching event, with caps and a half-life decay or a hard expiry."""

    name: str | None = None
    event: str
    where: Condition | None = None
    points: float
    repeatable: bool = True
    cap: Cap | None = None
    half_life: str | None = None
    expires_after: str | None = None

    _check = field_validator("half_life", "expires_after")(lambda v: None if v is None else _duration(v))

    @model_validator(mode="after")
    def _one_decay(self) -> EngagementRule:
        if self.half_life and self.expires_after:
            raise ValueError("choose either half_life (decay) or expires_after (hard expiry), not both")
        return self


class NegativeRule(_Frozen):
    """Points subtracted: by an attribute condition (``when``) or by an event (``event``/``where``)."""

    name: str | None = None
    when: Condition | None = None
    event: str | None = None
    where: Condition | None = None
    points: float = Field(lt=0)
    repeatable: bool = False
    cap: Cap | None = None
    half_life: str | None = None
    expires_after: str | None = None

    _check = field_validator("half_life", "expires_after")(lambda v: None if v is None else _duration(v))

    @model_validator(mode="after")
    def _exactly_one(self) -> NegativeRule:
        if (self.when is None) == (self.event is None):
            raise ValueError("a negative rule needs exactly one of `when` (attribute) or `event`")
        if self.where is not None and self.event is None:
            raise ValueError("`where` filters events: it needs `event`")
        return self


class Temperature(_Frozen):
    """Engagement bands: hot ≥ hot, warm ≥ warm, else cold."""

    hot: float = 70
    warm: float = 35

    @model_validator(mode="after")
    def _ordered(self) -> Temperature:
        if self.warm > self.hot:
            raise ValueError(f"warm ({self.warm}) must not exceed hot ({self.hot})")
        return self


class MqlThreshold(_Frozen):
    """The MQL contract: fit grade in ``grades`` and engagement ≥ ``engagement`` (and optionally total ≥)."""

    grades: tuple[Literal["A", "B", "C", "D"], ...] = ("A", "B")
    engagement: float = 50
    total: float | None = None


class ScoreGroup(_Frozen):
    """A named score beside the main one (e.g. one per product line)."""

    fit: tuple[FitRule, ...] = ()
    engagement: tuple[EngagementRule, ...] = ()
    negative: tuple[NegativeRule, ...] = ()


def _names_score_field(data: Any) -> bool:
    if isinstance(data, dict):
        field = data.get("field")
        if isinstance(field, str) and field.startswith("score."):
            return True
        return any(_names_score_field(v) for v in data.values())
    if isinstance(data, list | tuple):
        return any(_names_score_field(v) for v in data)
    return False


class Scoring(_Frozen):
    fit: tuple[FitRule, ...] = ()
    grades: dict[str, float] = Field(default_factory=lambda: {"A": 40.0, "B": 25.0, "C": 10.0})
    engagement: tuple[EngagementRule, ...] = ()
    negative: tuple[NegativeRule, ...] = ()
    temperature: Temperature = Temperature()
    mql: MqlThreshold = MqlThreshold()
    groups: dict[str, ScoreGroup] = Field(default_factory=dict)
    account_rollup: Literal["max", "sum", "avg"] = "max"

    @model_validator(mode="after")
    def _grades_descend(self) -> Scoring:
        unknown = sorted(set(self.grades) - {"A", "B", "C"})
        if unknown:
            raise ValueError(f"grades takes A, B and C (D is everything below C), not {', '.join(unknown)}")
        a, b, c = (self.grades.get(k) for k in ("A", "B", "C"))
        if None in (a, b, c):
            raise ValueError("grades needs minimum fit points for A, B and C (D is everything below C)")
        if not (a >= b >= c):  # type: ignore[operator]
            raise ValueError(f"grades must descend: A ({a}) ≥ B ({b}) ≥ C ({c})")
        if "main" in self.groups:
            raise ValueError("a score group may not be called 'main' (that is the main score)")
        if _names_score_field(self.model_dump(mode="python", by_alias=True)):
            raise ValueError("scoring rules may not use score.* fields (a score cannot depend on itself)")
        return self

    def grade(self, fit_points: float) -> str:
        for letter in ("A", "B", "C"):
            if fit_points >= self.grades[letter]:
                return letter
        return "D"


class Handoff(_Frozen):
    reject_reasons: tuple[str, ...] = ("not_a_fit", "no_budget", "bad_timing", "wrong_contact", "duplicate", "spam")
    loss_reasons: tuple[str, ...] = ("price", "competitor", "no_decision", "timing", "product_gap")
    disqualify_reasons: tuple[str, ...] = ("spam", "competitor", "student", "bad_data", "job_seeker")
    recycle_after: dict[str, str] = Field(default_factory=lambda: {"rejected": "0d", "lost": "90d", "stalled": "0d"})

    @field_validator("recycle_after")
    @classmethod
    def _durations(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - {"rejected", "lost", "stalled"})
        if unknown:
            raise ValueError(f"recycle_after takes rejected, lost and stalled, not {', '.join(unknown)}")
        return {k: _duration(v) for k, v in value.items()}


class RoutingRule(_Frozen):
    """First matching rule assigns an owner from ``team``."""

    when: Condition | None = None
    assign: Literal["round_robin", "account_owner", "least_loaded"] = "round_robin"
    team: str = "default"
    capacity_per_week: int | None = Field(default=None, gt=0)


class Trigger(StrEnum):
    STAGE_ENTERED = "stage_entered"
    STAGE_LEFT = "stage_left"
    SCORE_CROSSED = "score_crossed"
    TEMPERATURE_CHANGED = "temperature_changed"
    INACTIVE = "inactive"
    SLA_WARNING = "sla_warning"
    SLA_BREACHED = "sla_breached"
    DEAL_STAGE_CHANGED = "deal_stage_changed"
    DEAL_WON = "deal_won"
    DEAL_LOST = "deal_lost"


class AutomationRule(_Frozen):
    """``on`` a trigger (optionally narrowed to a stage/threshold), ``do`` a list of actions.

    An action is a bare name (``assign``) or a one-key mapping (``{notify: owner, via: email}``,
    ``{enroll: nurture_long}``, ``{task: "Call within 1h", due: 1h}``, ``{move: recycled, reason: stalled}``).
    """

    name: str | None = None
    on: Trigger
    stage: str | None = None
    pipeline: str | None = None
    threshold: float | None = None
    after: str | None = None
    when: Condition | None = None
    do: tuple[str | dict[str, Any], ...] = Field(min_length=1)

    _check = field_validator("after")(lambda v: None if v is None else _duration(v))


class NurtureStep(_Frozen):
    after: str
    send: str
    subject: str | None = None

    _check = field_validator("after")(lambda v: _duration(v))


class BusinessHours(_Frozen):
    start: str = Field(default="09:00", pattern=r"^\d\d:\d\d$")
    end: str = Field(default="17:00", pattern=r"^\d\d:\d\d$")
    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = ("mon", "tue", "wed", "thu", "fri")
    holidays: tuple[str, ...] = ()


class Playbook(_Frozen):
    """A whole playbook. Build with :func:`funnelbridge.playbook.load_playbook`, which also sets ``version``."""

    name: str
    description: str | None = None
    timezone: str = "UTC"
    business_hours: BusinessHours = BusinessHours()
    lists: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    pipelines: dict[str, Pipeline] = Field(min_length=1)
    scoring: Scoring = Scoring()
    handoff: Handoff = Handoff()
    routing: tuple[RoutingRule, ...] = ()
    automation: tuple[AutomationRule, ...] = ()
    nurture: dict[str, tuple[NurtureStep, ...]] = Field(default_factory=dict)
    version: str = Field(default="", description="content hash, set by the loader")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value

    @property
    def main(self) -> Pipeline:
        """The first pipeline (the shipped playbooks have one)."""
        return next(iter(self.pipelines.values()))

    @property
    def main_name(self) -> str:
        return next(iter(self.pipelines))
