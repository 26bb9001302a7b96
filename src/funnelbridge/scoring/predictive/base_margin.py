"""Boosting from the rule score: a logistic regression on a few columns as the booster's starting point.

With a few dozen positive outcomes a tree ensemble learns a ranking slowly and noisily, while a hand-written rule
score already ranks leads well. So, when asked to (store training: the rule score's total and whether the lead had
reached the decision stage), the model starts from a :class:`BaseMargin` — an L2-regularized logistic regression
on those columns, fitted on the fitting rows — and the gradient boosting learns only the corrections (LightGBM's
``init_score``). The model's raw score is the base margin plus the booster's output; where the data say little
the model stays close to the recalibrated rule score, where they say more the trees move it. This is ordinary
stacking, judged like everything else on later validation rows neither part has seen.

A base margin is plain numbers (column names, coefficients, intercept), so it is saved as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BaseMargin", "fit_base_margin"]

C = 1.0


@dataclass(frozen=True)
class BaseMargin:
    """``intercept + Σ coef·column`` in log-odds over model-matrix columns (a blank counts as 0)."""

    columns: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float

    def terms(self, x: pd.DataFrame) -> np.ndarray:
        """Each row's per-column terms ``coef·value`` (rows × columns)."""
        values = x[list(self.columns)].astype(float).fillna(0.0).to_numpy()
        return np.asarray(values * np.asarray(self.coef), dtype=float)

    def margin(self, x: pd.DataFrame) -> np.ndarray:
        """Each row's base log-odds."""
        return np.asarray(self.terms(x).sum(axis=1) + self.intercept, dtype=float)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaseMargin:
        return cls(tuple(data["columns"]), tuple(float(c) for c in data["coef"]), float(data["intercept"]))


def fit_base_margin(x: pd.DataFrame, y: np.ndarray, columns: tuple[str, ...]) -> BaseMargin:
    """Fit the logistic regression of ``y`` on ``columns`` of the model matrix ``x``."""
    from sklearn.linear_model import LogisticRegression

    values = x[list(columns)].astype(float).fillna(0.0).to_numpy()
    model = LogisticRegression(C=C, max_iter=2000).fit(values, y.astype(int))
    return BaseMargin(columns, tuple(float(c) for c in model.coef_[0]), float(model.intercept_[0]))
