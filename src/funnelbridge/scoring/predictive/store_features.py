"""Features of a lead from the store, as of one moment — and the training table built from them.

**Decision time.** A lead is judged when it enters the *decision stage*: the stage just before the pipeline's
handoff (MQL in the default playbooks). Its decision time is its first entry into that stage (a skipped stage
counts as entered at the move that skipped it), or its ``identified_at`` when it never got there. Features see
only what was known then: events with ``occurred_at`` ≤ decision time, windows counted back from it.

**Outcome.** Positive when the lead entered the target stage (customer, sql, opportunity, ...) within the
*outcome horizon* (``maturity_days``) after its decision time. Every labelled lead has had the whole horizon to get
there: leads decided less than the horizon before the last recorded activity (see ``History.last_activity``) are
left out and counted, as are leads that reached the target *before* their decision time. So an early lead and a
late one are judged by the same rule, and the later validation slice is not full of buyers still in the making.
Without an explicit horizon it is :func:`outcome_horizon`: the 90th percentile of the observed decision-to-target
times, at least :data:`MIN_HORIZON_DAYS`.

**Attributes.** Contact and account attributes are their current values (the store keeps no history of them).
Fields the sales process writes after the handoff (owner, BANT, last touch, unsubscribed/bounced flags,
free-form properties) are never features; unsubscribes and bounces enter as events instead, which are dated.
The number of leads whose contact or account row changed after their decision time is reported.

**The rule score as features (stacking).** The playbook's rule score at the decision time — its fit, engagement
and negative points, total, grade and MQL eligibility — enters as features too: what the hand-written rules say
is information known then, and the model learns where to trust it and where the other features correct it. The
comparison with the rule score stays fair: both are judged on the same later validation leads the model never saw.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from funnelbridge.errors import InputError
from funnelbridge.playbook.schema import Pipeline, Playbook
from funnelbridge.rules.emails import FREE_EMAIL_DOMAINS, domain_matches, email_domain
from funnelbridge.rules.facts import EventFact
from funnelbridge.scoring.predictive.store_history import History, LeadHistory
from funnelbridge.scoring.results import GroupScore

__all__ = [
    "BASE_EVENT_TYPES",
    "WINDOWS",
    "FeatureSpec",
    "Labelled",
    "TrainingTable",
    "decision_stage",
    "decision_time",
    "feature_spec",
    "labelled_leads",
    "lead_features",
    "outcome_horizon",
    "rule_features",
    "training_table",
]

MIN_HORIZON_DAYS = 30.0
"""The shortest outcome horizon chosen automatically (and the one used when too few leads reached the target)."""
HORIZON_QUANTILE = 0.9
_MIN_LAGS = 10
WINDOWS = (7, 30, 90)
"""Event windows in days, counted back from the moment the features describe (plus all time)."""

BASE_EVENT_TYPES = (
    "page_view", "form_submit", "asset_download", "webinar_attended", "email_open", "email_click",
    "demo_request", "email_unsubscribe", "email_bounce",
)  # fmt: skip
ID, TIME, TARGET, RULE = "contact_id", "decision_at", "outcome", "rule_score"
_TITLE_LEVELS = (
    ("c_level", r"\b(chief|ceo|cto|cfo|cio|coo|cmo|founder|owner|president)\b"),
    ("vp", r"\b(vp|vice president)\b"),
    ("director", r"\bdirector\b"),
    ("head", r"\bhead\b"),
    ("manager", r"\bmanager\b"),
    ("student", r"\b(student|intern)\b"),
)
_DAY = 86400.0


@dataclass(frozen=True)
class FeatureSpec:
    """Which event types, page sections and technologies become columns, and whether the rule score's parts do
    (saved with a model so scoring builds the same columns)."""

    event_types: tuple[str, ...]
    sections: tuple[str, ...]
    competitors: tuple[str, ...] = ()
    technologies: tuple[str, ...] = ()
    rule_features: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_types": list(self.event_types),
            "sections": list(self.sections),
            "competitors": list(self.competitors),
            "technologies": list(self.technologies),
            "rule_features": self.rule_features,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        return cls(
            tuple(data["event_types"]),
            tuple(data["sections"]),
            tuple(data.get("competitors", ())),
            tuple(data.get("technologies", ())),
            bool(data.get("rule_features", False)),
        )


@dataclass(frozen=True)
class TrainingTable:
    """One row per mature lead: id, decision time, outcome, rule score and features; plus what was left out."""

    frame: pd.DataFrame
    spec: FeatureSpec
    decision_stage: str
    target: str
    n_leads: int
    n_immature: int
    n_converted_before_decision: int
    n_changed_after_decision: int
    horizon_days: float = MIN_HORIZON_DAYS


def decision_stage(pipe: Pipeline) -> str:
    """The stage before the handoff (MQL in the default playbooks); the first stage when there is no handoff."""
    handoff = pipe.handoff
    if handoff is None or pipe.index(handoff) == 0:
        return pipe.stage_ids[0]
    return pipe.stage_ids[pipe.index(handoff) - 1]


def decision_time(lead: LeadHistory, stage: str) -> datetime:
    """First entry into the decision stage, else the time the lead was identified."""
    return lead.entries.get(stage, lead.identified_at)


def _section(path: str | None) -> str | None:
    if not path:
        return None
    part = path.split("?")[0].strip("/").split("/")[0].lower()
    return part or "home"


def _technologies(account: Mapping[str, Any] | None) -> list[str]:
    techs = (account or {}).get("technologies") or []
    return [str(t).lower() for t in techs] if isinstance(techs, list) else []


def feature_spec(
    history: History, playbook: Playbook, top_sections: int = 8, top_technologies: int = 12, min_share: float = 0.02
) -> FeatureSpec:
    """Event types (the standard ones and those the playbook scores), the most visited page sections and the
    most common account technologies (used by at least ``min_share`` of the leads); rule parts as features."""
    sc = playbook.scoring
    scored = [str(getattr(r, "event", None) or "") for r in (*sc.engagement, *sc.negative)]
    types = tuple(dict.fromkeys([*BASE_EVENT_TYPES, *(t for t in scored if t)]))
    counts: Counter[str] = Counter(
        s for lead in history.leads for e in lead.events if e.type == "page_view" and (s := _section(e.path))
    )
    sections = tuple(sorted(name for name, _ in counts.most_common(top_sections)))
    techs: Counter[str] = Counter(t for lead in history.leads for t in set(_technologies(lead.account)))
    floor = min_share * len(history.leads)
    common = tuple(sorted(name for name, n in techs.most_common(top_technologies) if n >= floor))
    return FeatureSpec(types, sections, tuple(playbook.lists.get("competitors", ())), common, rule_features=True)


def _title_level(title: Any) -> str:
    if not title:
        return "blank"
    text = str(title).lower()
    return next((level for level, pattern in _TITLE_LEVELS if re.search(pattern, text)), "other")


def _email_type(email: Any, competitors: Sequence[str]) -> str:
    if not email:
        return "blank"
    domain = email_domain(str(email))
    if competitors and domain_matches(str(email), list(competitors)):
        return "competitor"
    return "free" if domain in FREE_EMAIL_DOMAINS else "business"


def _fit(lead: LeadHistory, at: datetime, spec: FeatureSpec) -> dict[str, Any]:
    c, a = lead.contact, lead.account or {}
    touched = c.get("first_touch_at") is not None and c["first_touch_at"] <= at
    techs = _technologies(lead.account)
    return {
        "title_level": _title_level(c.get("title")),
        "seniority": c.get("seniority") or "",
        "contact_country": c.get("country") or "",
        "email_domain_type": _email_type(c.get("email"), spec.competitors),
        "first_source": (c.get("first_source") or "") if touched else "",
        "first_medium": (c.get("first_medium") or "") if touched else "",
        "industry": a.get("industry") or "",
        "employees": float(a["employees"]) if a.get("employees") is not None else float("nan"),
        "account_country": a.get("country") or "",
        "technologies": len(techs),
        **{f"tech_{name}": 1.0 if name in techs else 0.0 for name in spec.technologies},
        "has_account": 1.0 if lead.account else 0.0,
    }


def _window(name: str, days: int | None) -> str:
    return f"{name}_{days}d" if days else f"{name}_all"


def _activity(events: Sequence[EventFact], at: datetime, spec: FeatureSpec) -> dict[str, float]:
    out: dict[str, float] = {}
    ages = [(at - e.occurred_at).total_seconds() / _DAY for e in events]
    for days in (*WINDOWS, None):
        chosen = [e for e, age in zip(events, ages, strict=True) if days is None or age <= days]
        types = Counter(e.type for e in chosen)
        sections = Counter(_section(e.path) for e in chosen if e.type == "page_view")
        out[_window("events", days)] = float(len(chosen))
        out.update({_window(t, days): float(types.get(t, 0)) for t in spec.event_types})
        out.update({_window(f"page_{s}", days): float(sections.get(s, 0)) for s in spec.sections})
    out["active_days_30d"] = float(
        len({e.occurred_at.date() for e, age in zip(events, ages, strict=True) if age <= 30})
    )
    out["days_since_last_event"] = min(ages) if ages else float("nan")
    out["days_since_first_event"] = max(ages) if ages else float("nan")
    return out


def rule_features(score: GroupScore) -> dict[str, Any]:
    """The rule score's parts as features: points by kind, total, grade and MQL eligibility."""
    return {
        "rule_fit": score.fit,
        "rule_engagement": score.engagement,
        "rule_negative": score.negative,
        "rule_total": score.total,
        "rule_grade": score.grade,
        "rule_mql_eligible": 1.0 if score.mql_eligible else 0.0,
    }


def lead_features(
    lead: LeadHistory, at: datetime, spec: FeatureSpec, stage: str, rule: GroupScore | None = None
) -> dict[str, Any]:
    """Every feature of ``lead`` as of ``at`` (nothing after ``at`` is used, except current attributes).

    ``rule`` is the lead's rule score at ``at``; it is required when the spec uses the rule's parts.
    """
    if spec.rule_features and rule is None:
        raise InputError("this feature spec needs the lead's rule score at the same moment")
    entered = lead.entries.get(stage)
    return {
        **_fit(lead, at, spec),
        **_activity(lead.events_until(at), at, spec),
        "days_since_identified": (at - lead.identified_at).total_seconds() / _DAY,
        "reached_decision_stage": 1.0 if entered is not None and entered <= at else 0.0,
        **(rule_features(rule) if spec.rule_features and rule is not None else {}),
    }


def _check_target(pipe: Pipeline, stage: str, target: str) -> None:
    if target not in pipe.stage_ids:
        raise InputError(f"unknown target stage {target!r}; stages are {', '.join(pipe.stage_ids)}", field="target")
    if pipe.index(target) <= pipe.index(stage):
        raise InputError(f"target {target!r} must come after the decision stage {stage!r}", field="target")


@dataclass(frozen=True)
class Labelled:
    """Mature leads with their decision time and outcome, what was left out, and the horizon used."""

    leads: tuple[tuple[LeadHistory, datetime, bool], ...]
    decision_stage: str
    n_immature: int
    n_converted_before_decision: int
    horizon_days: float = MIN_HORIZON_DAYS


def outcome_horizon(history: History, stage: str, target: str) -> float:
    """Days within which most leads that reach ``target`` get there: the 90th percentile of the observed times
    from decision to target (whole days, at least :data:`MIN_HORIZON_DAYS`; that minimum with under 10 of them)."""
    lags = sorted(
        (reached - at).total_seconds() / _DAY
        for lead in history.leads
        if (reached := lead.entries.get(target)) is not None and reached >= (at := decision_time(lead, stage))
    )
    if len(lags) < _MIN_LAGS:
        return MIN_HORIZON_DAYS
    return max(MIN_HORIZON_DAYS, float(math.ceil(lags[math.ceil(HORIZON_QUANTILE * len(lags)) - 1])))


def labelled_leads(
    history: History,
    playbook: Playbook,
    target: str,
    maturity_days: float | None = None,
    leads: Iterable[LeadHistory] | None = None,
) -> Labelled:
    """Each mature lead's decision time and whether it reached ``target`` within the horizon after it."""
    pipe = playbook.pipelines[history.pipeline]
    stage = decision_stage(pipe)
    _check_target(pipe, stage, target)
    days = outcome_horizon(history, stage, target) if maturity_days is None else maturity_days
    horizon = timedelta(days=days)
    cutoff = history.last_activity - horizon
    out: list[tuple[LeadHistory, datetime, bool]] = []
    immature = early = 0
    for lead in leads if leads is not None else history.leads:
        at, reached = decision_time(lead, stage), lead.entries.get(target)
        if reached is not None and reached < at:
            early += 1
        elif at > cutoff:
            immature += 1
        else:
            out.append((lead, at, reached is not None and reached - at <= horizon))
    return Labelled(tuple(out), stage, immature, early, days)


RuleScorer = Callable[[LeadHistory, datetime], GroupScore]


def training_table(
    history: History,
    playbook: Playbook,
    target: str,
    maturity_days: float | None,
    rule_score: RuleScorer,
    leads: Iterable[LeadHistory] | None = None,
) -> TrainingTable:
    """One row per mature lead of ``history``: features at its decision time, outcome, and the rule score then."""
    labelled = labelled_leads(history, playbook, target, maturity_days, leads)
    spec = feature_spec(history, playbook)
    stage = labelled.decision_stage
    rows: list[dict[str, Any]] = []
    changed = 0
    for lead, at, positive in labelled.leads:
        changed += int(lead.updated_at is not None and lead.updated_at > at)
        head = {ID: str(lead.contact_id), TIME: at, TARGET: "1" if positive else "0"}
        rule = rule_score(lead, at)
        rows.append({**head, RULE: rule.total, **lead_features(lead, at, spec, stage, rule)})
    return TrainingTable(
        pd.DataFrame(rows), spec, stage, target, len(history.leads), labelled.n_immature,
        labelled.n_converted_before_decision, changed, labelled.horizon_days,
    )  # fmt: skip
