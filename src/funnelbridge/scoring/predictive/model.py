"""The gradient-boosting backends: LightGBM (preferred) or scikit-learn's HistGradientBoosting (fallback).

Both are deterministic (fixed seed, one thread) and regularized for the small tables lead scoring usually has:
shallow trees, a minimum leaf size that grows with the data, L2 regularization, a modest learning rate.
A :class:`GradientModel` is a value: which backend, the fitted estimator and, optionally, the
:class:`~funnelbridge.scoring.predictive.base_margin.BaseMargin` it boosts from (LightGBM only: scikit-learn's
HistGradientBoosting takes no initial scores, so the fallback learns from the features alone).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from funnelbridge.scoring.predictive.base_margin import BaseMargin, fit_base_margin

__all__ = ["Backend", "GradientModel", "available_backend", "fit_model", "raw_score"]

SEED = 42


class Backend(StrEnum):
    """Which library fitted the model."""

    LIGHTGBM = "lightgbm"
    SKLEARN = "sklearn"


@dataclass(frozen=True)
class GradientModel:
    """A fitted booster: a ``lightgbm.Booster`` or a ``HistGradientBoostingClassifier``."""

    backend: Backend
    estimator: Any
    baseline: pd.DataFrame  # one typical row (medians / most frequent levels), used by the sklearn explainer
    base: BaseMargin | None = None  # the starting log-odds the booster corrects (LightGBM only)


def available_backend() -> Backend:
    """LightGBM when importable, else scikit-learn."""
    return Backend.LIGHTGBM if importlib.util.find_spec("lightgbm") else Backend.SKLEARN


def _rounds(n_rows: int) -> int:
    return int(np.clip(n_rows // 20, 60, 300))


def _min_leaf(n_rows: int) -> int:
    return int(np.clip(n_rows // 100, 20, 200))


def lightgbm_params(n_rows: int) -> dict[str, Any]:
    """LightGBM parameters for ``n_rows`` training rows."""
    return {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "max_depth": 5,
        "min_data_in_leaf": _min_leaf(n_rows),
        "min_data_per_group": 20,
        "cat_smooth": 10.0,
        "cat_l2": 10.0,
        "lambda_l2": 1.0,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.9,
        "bagging_freq": 1,
        "seed": SEED,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": 1,
        "verbosity": -1,
    }


def _fit_lightgbm(x: pd.DataFrame, y: np.ndarray, init: np.ndarray | None = None) -> Any:
    import lightgbm as lgb

    data = lgb.Dataset(x, label=y, init_score=init, categorical_feature="auto", free_raw_data=False)
    return lgb.train(lightgbm_params(len(x)), data, num_boost_round=_rounds(len(x)))


def _fit_sklearn(x: pd.DataFrame, y: np.ndarray) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=_rounds(len(x)),
        max_leaf_nodes=15,
        max_depth=5,
        min_samples_leaf=_min_leaf(len(x)),
        l2_regularization=1.0,
        categorical_features="from_dtype",
        early_stopping=False,
        random_state=SEED,
    )
    return model.fit(x, y)


def _baseline(x: pd.DataFrame) -> pd.DataFrame:
    row: dict[str, Any] = {}
    for name in x.columns:
        col = x[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            mode = col.mode()
            row[name] = pd.Categorical([mode.iloc[0]], categories=col.cat.categories)
        else:
            row[name] = [float(col.median()) if col.notna().any() else np.nan]
    return pd.DataFrame(row)


def fit_model(
    x: pd.DataFrame, y: np.ndarray, backend: Backend | None = None, base_columns: tuple[str, ...] = ()
) -> GradientModel:
    """Fit the chosen (default: best available) backend on the model matrix ``x`` and 0/1 labels ``y``; with
    ``base_columns`` (LightGBM), boost from a logistic regression on those matrix columns."""
    backend = backend or available_backend()
    if backend is Backend.SKLEARN:
        return GradientModel(backend, _fit_sklearn(x, y), _baseline(x))
    base = fit_base_margin(x, y, base_columns) if base_columns else None
    init = base.margin(x) if base is not None else None
    return GradientModel(backend, _fit_lightgbm(x, y, init), _baseline(x), base)


def raw_score(model: GradientModel, x: pd.DataFrame) -> np.ndarray:
    """Uncalibrated log-odds of each row (the base margin, if any, plus the booster's output)."""
    if model.backend is Backend.LIGHTGBM:
        raw = np.asarray(model.estimator.predict(x, raw_score=True), dtype=float)
        return raw + model.base.margin(x) if model.base is not None else raw
    return np.asarray(model.estimator.decision_function(x), dtype=float)
