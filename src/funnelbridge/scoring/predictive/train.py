"""Train a calibrated gradient-boosting lead scorer on any table of leads with an outcome column."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from funnelbridge.errors import InputError
from funnelbridge.scoring.predictive.calibration import Calibrator, fit_calibrator
from funnelbridge.scoring.predictive.comparison import compare_auc
from funnelbridge.scoring.predictive.features import FeaturePlan, Kind, fit_plan, transform
from funnelbridge.scoring.predictive.model import Backend, GradientModel, fit_model, raw_score
from funnelbridge.scoring.predictive.report import (
    SplitSummary,
    TrainingReport,
    calibration_summary,
    deciles,
    evaluate,
    evaluate_rule,
)
from funnelbridge.scoring.predictive.split import SEED, Split, check_history, split_rows
from funnelbridge.scoring.predictive.target import TargetCoding, coerce_target

__all__ = ["TrainConfig", "TrainResult", "TrainedModel", "predict_proba", "train"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """What to train on: the outcome column and the optional roles of other columns."""

    target: str
    time_column: str | None = None
    id_column: str | None = None
    rule_score_column: str | None = None
    positive_label: str | None = None
    backend: Backend | None = None
    base_columns: tuple[str, ...] = ()  # numeric feature columns the booster starts from (see base_margin)


@dataclass(frozen=True)
class TrainedModel:
    """Everything needed to score new rows identically: the feature plan, the booster, the calibrator."""

    plan: FeaturePlan
    model: GradientModel
    calibrator: Calibrator
    target: TargetCoding
    id_column: str | None
    time_column: str | None


@dataclass(frozen=True)
class TrainResult:
    """A trained model and its (unversioned) report."""

    trained: TrainedModel
    report: TrainingReport


def predict_proba(trained: TrainedModel, frame: pd.DataFrame) -> np.ndarray:
    """Calibrated probability of the positive outcome for each row of ``frame``."""
    x = transform(trained.plan, frame)
    return trained.calibrator.probability(raw_score(trained.model, x))


def _check_columns(frame: pd.DataFrame, config: TrainConfig) -> None:
    roles = {
        "--target": config.target,
        "--time-column": config.time_column,
        "--id-column": config.id_column,
        "--rule-score-column": config.rule_score_column,
    }
    for role, name in roles.items():
        if name is not None and name not in frame.columns:
            shown = ", ".join(map(str, frame.columns[:20]))
            raise InputError(f"{role} {name!r} is not a column of the table; columns are: {shown}")


def _exclusions(config: TrainConfig) -> dict[str, str]:
    out = {config.target: "target"}
    if config.id_column:
        out[config.id_column] = "id column (identifies rows, not a feature)"
    if config.rule_score_column:
        out[config.rule_score_column] = "rule score (compared with the model, not a feature)"
    return out


def _rule_scores(frame: pd.DataFrame, column: str) -> np.ndarray:
    values: np.ndarray = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    if np.isnan(values).all():
        raise InputError("rule score column has no numeric value", field=column)
    lowest = float(np.nanmin(values)) - 1.0
    return np.where(np.isnan(values), lowest, values)  # blank scores rank lowest


def _base_columns(plan: FeaturePlan, config: TrainConfig) -> tuple[str, ...]:
    """The model-matrix names of the base columns that became numeric features (others are skipped)."""
    numeric = {c.name for c in plan.columns if c.kind in (Kind.NUMERIC, Kind.BOOLEAN)}
    matrix = dict(zip(plan.feature_names, plan.matrix_columns, strict=True))
    return tuple(matrix[name] for name in config.base_columns if name in numeric)


def _summary(config: TrainConfig, split: Split, n_rows: int, n_blank: int) -> SplitSummary:
    return SplitSummary(
        mode="time" if config.time_column else "stratified_random",
        time_column=config.time_column,
        seed=None if config.time_column else SEED,
        n_rows=n_rows,
        n_blank_target=n_blank,
        n_unparseable_time=split.n_unparseable_time,
        n_fit=len(split.fit),
        n_calibration=len(split.calibration),
        n_validation=len(split.validation),
        validation_from=split.validation_from,
    )


def _prepare(frame: pd.DataFrame, config: TrainConfig) -> tuple[TargetCoding, pd.DataFrame, np.ndarray, Split]:
    _check_columns(frame, config)
    coding, y_all = coerce_target(frame[config.target], config.positive_label)
    labelled = ~np.isnan(y_all)
    rows, y = frame.loc[labelled].reset_index(drop=True), y_all[labelled]
    check_history(y, coding.positive, coding.negative)
    split = split_rows(rows, y, config.time_column)
    if split.n_unparseable_time:
        used = np.concatenate([split.fit, split.calibration, split.validation])
        check_history(y[used], coding.positive, coding.negative)
    return coding, rows, y, split


def train(frame: pd.DataFrame, config: TrainConfig, progress: Progress | None = None) -> TrainResult:
    """Split, fit the feature plan and the booster, calibrate on held-out rows, validate; refuse thin data."""
    say = progress or (lambda _msg: None)
    coding, rows, y, split = _prepare(frame, config)
    train_rows = np.concatenate([split.fit, split.calibration])
    plan = fit_plan(rows.iloc[train_rows], _exclusions(config), config.time_column)
    x = transform(plan, rows)
    say(f"fitting gradient boosting on {len(split.fit)} rows")
    model = fit_model(x.iloc[split.fit], y[split.fit], config.backend, _base_columns(plan, config))
    say(f"calibrating on {len(split.calibration)} held-out rows")
    calibrator = fit_calibrator(raw_score(model, x.iloc[split.calibration]), y[split.calibration])
    say(f"validating on {len(split.validation)} rows")
    trained = TrainedModel(plan, model, calibrator, coding, config.id_column, config.time_column)
    report = _report(trained, rows, x, y, split, config, len(frame))
    return TrainResult(trained, report)


def _report(
    trained: TrainedModel,
    rows: pd.DataFrame,
    x: pd.DataFrame,
    y: np.ndarray,
    split: Split,
    config: TrainConfig,
    n_rows: int,
) -> TrainingReport:
    valid, y_valid = split.validation, y[split.validation]
    proba = trained.calibrator.probability(raw_score(trained.model, x.iloc[valid]))
    rule, rule_lift, comparison = None, None, None
    if config.rule_score_column:
        scores = _rule_scores(rows.iloc[valid], config.rule_score_column)
        rule, rule_lift = evaluate_rule(y_valid, scores), deciles(y_valid, scores)
        comparison = compare_auc(y_valid, proba, scores)
    table, ece = calibration_summary(y_valid, proba)
    return TrainingReport(
        model_version=None,
        backend=trained.model.backend.value,
        calibration_method=trained.calibrator.method.value,
        target=trained.target,
        split=_summary(config, split, n_rows, trained.target.n_blank),
        features=trained.plan.feature_names,
        dropped_columns=trained.plan.dropped,
        validation=evaluate(y_valid, proba, len(split.fit) + len(split.calibration)),
        rule_score=rule,
        calibration=table,
        expected_calibration_error=ece,
        lift_by_decile=deciles(y_valid, proba),
        rule_lift_by_decile=rule_lift,
        comparison=comparison,
    )
