"""``playbook suggest``: point values for the scoring rules, learned from the outcomes, for people to review.

Each mature lead (see :mod:`funnelbridge.scoring.predictive.store_features`: decision time, outcome, maturity)
is scored with the current playbook at its decision time. Every main-group rule then gives one number per lead,
its *units*: the points it gave divided by its nominal points — 1 for an attribute rule that holds, the decayed,
capped number of events for an event rule (a pricing-page rule worth 10 that gave 17.5 points counts 1.75).
An L2-regularized logistic regression of the outcome on those units, fitted on the earlier 75 % of decision
times, gives each rule a coefficient in log-odds per unit; the suggested points are
``coefficient × points_per_doubling / ln 2`` — by default 10 points for each doubling of the odds of converting
(the scorecard convention), rounded. Replacing every rule's points by the suggestion and keeping its decay and
caps (caps scaled in proportion) gives the suggested score, compared with the current score on the latest 25 %
of decision times: ROC AUC, PR AUC and top-decile lift, side by side. That expected lift is an estimate on
history: review the suggestions, then try them with ``playbook plan``.

A rule that never fired in the fitting part gets no suggestion; a fit or engagement rule whose suggestion is
negative, or a negative rule whose suggestion is positive, is flagged rather than flipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from funnelbridge.errors import ModelError
from funnelbridge.playbook.schema import Playbook
from funnelbridge.runtime import Runtime
from funnelbridge.scoring.predictive.metrics import average_precision, lift_by_decile, roc_auc
from funnelbridge.scoring.predictive.split import MIN_PER_CLASS, MIN_ROWS, VALIDATION_SHARE, check_history
from funnelbridge.scoring.predictive.store_features import labelled_leads
from funnelbridge.scoring.predictive.store_history import load_history
from funnelbridge.scoring.rules_engine import score_facts
from funnelbridge.scoring.ruleset import rule_sets

__all__ = ["RuleSuggestion", "ScorerQuality", "Suggestion", "suggest_points"]

POINTS_PER_DOUBLING = 10.0
C = 1.0  # inverse L2 strength of the logistic regression (scikit-learn's default)


@dataclass(frozen=True)
class RuleSuggestion:
    """One rule: its current points, how often it fired, the learned coefficient and the suggested points."""

    rule: str
    kind: str
    current_points: float
    fired: int  # leads of the fitting part it gave points to
    coefficient: float | None
    suggested_points: float | None
    note: str = ""


@dataclass(frozen=True)
class ScorerQuality:
    """A score's ranking quality on the validation leads."""

    roc_auc: float | None
    pr_auc: float | None
    top_decile_lift: float | None


@dataclass(frozen=True)
class Suggestion:
    """The suggested points, and the current and suggested scores compared on later leads."""

    target: str
    n_fit: int
    n_validation: int
    validation_from: str
    points_per_doubling: float
    rules: tuple[RuleSuggestion, ...]
    current: ScorerQuality
    suggested: ScorerQuality


@dataclass(frozen=True)
class _Rule:
    name: str
    kind: str
    points: float


def _rules(playbook: Playbook) -> list[_Rule]:
    main = rule_sets(playbook.scoring)[0]
    found = [_Rule(r.name, r.kind, r.points) for r in main.attribute_rules]
    found += [_Rule(r.name, r.kind, r.points) for r in main.event_rules]
    return [r for r in found if r.points]


def _units(playbook: Playbook, rules: list[_Rule], lead: Any, at: datetime) -> tuple[np.ndarray, float]:
    score = score_facts(playbook, lead.facts_at(at), contact_id=lead.contact_id)[0]
    given = {item.rule: item.points for item in score.explanation}
    return np.array([given.get(r.name, 0.0) / r.points for r in rules]), score.total


def _quality(y: np.ndarray, score: np.ndarray) -> ScorerQuality:
    top = lift_by_decile(y, score)[0].lift if len(y) >= 10 else None
    return ScorerQuality(roc_auc(y, score), average_precision(y, score), top)


def _note(rule: _Rule, points: float | None, fired: int, n: int) -> str:
    if points is None:
        return "never fired in the fitting period: no evidence"
    if fired == n:
        return "fired for every lead: its effect cannot be measured"
    if rule.kind == "negative" and points > 0:
        return "outcomes do not support a penalty: consider removing it"
    if rule.kind != "negative" and points < 0:
        return "converts worse than average: consider a negative rule instead"
    if points == 0:
        return "no measurable effect: consider removing it"
    return ""


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, max_iter=1000).fit(x, y.astype(int))
    return np.asarray(model.coef_[0], dtype=float)


def suggest_points(
    rt: Runtime,
    target: str = "customer",
    maturity_days: float | None = None,
    points_per_doubling: float = POINTS_PER_DOUBLING,
) -> Suggestion:
    """Learn point values for the playbook's rules from the store's outcomes (see the module docstring)."""
    pb = rt.playbook
    with rt.db.read() as conn:
        history = load_history(conn, rt.clock.now(), pb.main_name)
    labelled = sorted(labelled_leads(history, pb, target, maturity_days).leads, key=lambda item: item[1])
    rules = _rules(pb)
    if len(labelled) < MIN_ROWS or not rules:
        what = f"{len(labelled)} leads with a mature outcome" if rules else "no scoring rules"
        raise ModelError(f"too little history: {what}; need at least {MIN_ROWS}, {MIN_PER_CLASS} of each class")
    units = [_units(pb, rules, lead, at) for lead, at, _ in labelled]
    x = np.array([u for u, _ in units])
    current = np.array([total for _, total in units])
    y = np.array([1.0 if positive else 0.0 for _, _, positive in labelled])
    n_valid = math.ceil(len(y) * VALIDATION_SHARE)
    fit, valid = slice(0, len(y) - n_valid), slice(len(y) - n_valid, len(y))
    check_history(y[fit], f"reached {target}", f"did not reach {target}")
    coef = _fit(x[fit], y[fit])
    fired = (x[fit] != 0).sum(axis=0)
    points = [
        float(round(c * points_per_doubling / math.log(2))) if n else None for c, n in zip(coef, fired, strict=True)
    ]
    suggested_weights = np.array([p if p is not None else r.points for p, r in zip(points, rules, strict=True)])
    out = tuple(
        RuleSuggestion(
            r.name, r.kind, r.points, int(n), float(c) if n else None, p, _note(r, p, int(n), len(y) - n_valid)
        )
        for r, c, n, p in zip(rules, coef, fired, points, strict=True)
    )
    return Suggestion(
        target, int(len(y) - n_valid), n_valid, labelled[len(y) - n_valid][1].isoformat(), points_per_doubling,
        out, _quality(y[valid], current[valid]), _quality(y[valid], x[valid] @ suggested_weights),
    )  # fmt: skip
