"""The training report: named results, and their JSON form (``null`` where a value is undefined)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from funnelbridge.scoring.predictive.comparison import AucComparison
from funnelbridge.scoring.predictive.features import DroppedColumn
from funnelbridge.scoring.predictive.metrics import (
    CalibrationBin,
    DecileRow,
    average_precision,
    calibration_table,
    expected_calibration_error,
    lift_by_decile,
    log_loss,
    roc_auc,
)
from funnelbridge.scoring.predictive.target import TargetCoding

__all__ = [
    "SplitSummary",
    "TrainingReport",
    "ValidationMetrics",
    "calibration_summary",
    "deciles",
    "evaluate",
    "evaluate_rule",
    "report_to_json",
]


@dataclass(frozen=True)
class ValidationMetrics:
    """Scores of one scorer on the validation rows. ``n_train`` is None for a rule score (nothing is fitted)."""

    roc_auc: float | None
    pr_auc: float | None
    log_loss: float | None
    n_train: int | None
    n_validation: int


@dataclass(frozen=True)
class SplitSummary:
    """How the labelled rows were divided."""

    mode: str  # "time" or "stratified_random"
    time_column: str | None
    seed: int | None
    n_rows: int
    n_blank_target: int
    n_unparseable_time: int
    n_fit: int
    n_calibration: int
    n_validation: int
    validation_from: str | None  # earliest time in the validation slice (time mode)


@dataclass(frozen=True)
class TrainingReport:
    """Everything ``model train`` reports."""

    model_version: str | None
    backend: str
    calibration_method: str
    target: TargetCoding
    split: SplitSummary
    features: tuple[str, ...]
    dropped_columns: tuple[DroppedColumn, ...]
    validation: ValidationMetrics
    rule_score: ValidationMetrics | None
    calibration: tuple[CalibrationBin, ...]
    expected_calibration_error: float | None
    lift_by_decile: tuple[DecileRow, ...]
    rule_lift_by_decile: tuple[DecileRow, ...] | None
    comparison: AucComparison | None = None  # model − rule ROC AUC with its bootstrap interval


def evaluate(y: np.ndarray, probability: np.ndarray, n_train: int) -> ValidationMetrics:
    """Validation metrics of calibrated probabilities."""
    return ValidationMetrics(
        roc_auc(y, probability), average_precision(y, probability), log_loss(y, probability), n_train, len(y)
    )


def evaluate_rule(y: np.ndarray, score: np.ndarray) -> ValidationMetrics:
    """Validation metrics of a rule score; log loss only when the scores are probabilities (all in [0, 1])."""
    is_probability = bool(len(score)) and bool(np.all((score >= 0) & (score <= 1)))
    loss = log_loss(y, score) if is_probability else None
    return ValidationMetrics(roc_auc(y, score), average_precision(y, score), loss, None, len(y))


def calibration_summary(y: np.ndarray, probability: np.ndarray) -> tuple[tuple[CalibrationBin, ...], float | None]:
    """The calibration table and its expected calibration error."""
    table = calibration_table(y, probability)
    return tuple(table), expected_calibration_error(table)


def deciles(y: np.ndarray, score: np.ndarray) -> tuple[DecileRow, ...]:
    """Lift and capture by decile, as a tuple."""
    return tuple(lift_by_decile(y, score))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def report_to_json(report: TrainingReport) -> dict[str, Any]:
    """The ``--json`` object: the documented keys first, then the details."""
    data = asdict(report)
    head = {key: data.pop(key) for key in ("model_version", "validation", "rule_score", "lift_by_decile")}
    return dict(_clean({**head, **data}))
