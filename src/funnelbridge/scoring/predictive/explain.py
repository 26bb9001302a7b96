"""Why a lead got its probability: the features that pushed its score up or down the most.

With LightGBM the contributions are exact TreeSHAP values (``pred_contrib=True``): per feature, in log-odds,
and together with the base value they sum to the row's raw score. A model that boosts from a base margin adds
each base column's linear term to that column's contribution and the base intercept to the base value, so the
sum still equals the raw score. The calibrated probability is a monotone
function of that raw score, so the signs carry over.

With the scikit-learn fallback there is no TreeSHAP; the contributions are an *occlusion* approximation: the
raw score of the row minus the raw score of the same row with that one feature set to a typical value (the
training median, or the most frequent level), and the base value is the raw score of the all-typical row.
These do not sum exactly to the raw score when features interact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from funnelbridge.scoring.predictive.features import transform
from funnelbridge.scoring.predictive.model import Backend, GradientModel, raw_score
from funnelbridge.scoring.predictive.train import TrainedModel

__all__ = ["Contributions", "Explanation", "FeatureContribution", "contributions", "explain"]


@dataclass(frozen=True)
class FeatureContribution:
    """One feature's push on a row's log-odds (positive: towards the positive outcome)."""

    feature: str
    value: str
    contribution: float


@dataclass(frozen=True)
class Explanation:
    """A row's probability and its top contributing features (largest absolute contribution first)."""

    row: int
    row_id: str | None
    probability: float
    raw_score: float
    base_value: float
    method: str
    top: tuple[FeatureContribution, ...]


@dataclass(frozen=True)
class Contributions:
    """Per-row, per-feature contributions (rows × features) and each row's base value, in log-odds."""

    values: np.ndarray
    base: np.ndarray
    method: str


def _occlusion(model: GradientModel, x: pd.DataFrame) -> Contributions:
    full = raw_score(model, x)
    values = np.empty((len(x), x.shape[1]))
    for j, name in enumerate(x.columns):
        masked = x.copy()
        masked[name] = pd.concat([model.baseline[name]] * len(x), ignore_index=True).set_axis(x.index)
        values[:, j] = full - raw_score(model, masked)
    base = np.full(len(x), float(raw_score(model, model.baseline)[0]))
    return Contributions(values, base, "occlusion")


def contributions(model: GradientModel, x: pd.DataFrame) -> Contributions:
    """Feature contributions of each row of the model matrix ``x``."""
    if model.backend is Backend.SKLEARN:
        return _occlusion(model, x)
    out = np.asarray(model.estimator.predict(x, pred_contrib=True), dtype=float)
    values, base = out[:, :-1], out[:, -1]
    if model.base is not None:  # the base margin's terms belong to their columns; its intercept to the base value
        where = [list(x.columns).index(name) for name in model.base.columns]
        values[:, where] += model.base.terms(x)
        base = base + model.base.intercept
    return Contributions(values, base, "treeshap")


def _shown(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "blank"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def explain(trained: TrainedModel, frame: pd.DataFrame, top: int = 5) -> list[Explanation]:
    """Explain every row of ``frame`` (raw input columns) with its ``top`` strongest features."""
    x = transform(trained.plan, frame)
    raw = raw_score(trained.model, x)
    proba = trained.calibrator.probability(raw)
    contrib = contributions(trained.model, x)
    names = trained.plan.feature_names
    ids = frame[trained.id_column].astype(str).tolist() if trained.id_column in frame.columns else None
    out = []
    for i in range(len(x)):
        order = np.argsort(-np.abs(contrib.values[i]), kind="mergesort")[:top]
        items = tuple(FeatureContribution(names[j], _shown(x.iloc[i, j]), float(contrib.values[i, j])) for j in order)
        row_id = ids[i] if ids is not None else None
        out.append(
            Explanation(i + 1, row_id, float(proba[i]), float(raw[i]), float(contrib.base[i]), contrib.method, items)
        )
    return out
