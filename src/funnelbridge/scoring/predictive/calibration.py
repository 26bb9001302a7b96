"""Probability calibration, fitted on a held-out part of the training data (never the validation rows).

Two methods, chosen by the size of the calibration set: Platt scaling (``sigmoid``: a logistic regression on
the raw log-odds) when it is small — isotonic regression overfits a few hundred rows — and ``isotonic`` when it
has at least :data:`ISOTONIC_MIN_ROWS` rows and :data:`ISOTONIC_MIN_POSITIVES` positives. A fitted
:class:`Calibrator` is plain numbers, so it is saved as JSON.

Calibration must not throw the model's ranking away: isotonic regression is a step function, so many different
raw scores land on one step and would tie. A tie-break far below any reported precision (:data:`TIE_BREAK`,
increasing in the raw score) keeps the calibrated probabilities in the raw scores' order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np

__all__ = ["Calibrator", "Method", "choose_method", "fit_calibrator"]

ISOTONIC_MIN_ROWS = 1000
ISOTONIC_MIN_POSITIVES = 100
TIE_BREAK = 1e-6


class Method(StrEnum):
    """Calibration method."""

    SIGMOID = "sigmoid"
    ISOTONIC = "isotonic"


@dataclass(frozen=True)
class Calibrator:
    """Maps raw log-odds to probabilities: ``sigmoid(slope·s + intercept)``, or a monotone step function."""

    method: Method
    slope: float = 1.0
    intercept: float = 0.0
    x_points: tuple[float, ...] = ()
    y_points: tuple[float, ...] = ()

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability of each raw score."""
        raw = np.asarray(raw, dtype=float)
        if self.method is Method.ISOTONIC:
            steps = np.asarray(np.interp(raw, self.x_points, self.y_points), dtype=float)
            return np.asarray(steps + TIE_BREAK * np.arctan(raw) / np.pi, dtype=float)
        return 1.0 / (1.0 + np.exp(-(self.slope * raw + self.intercept)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Rebuild a calibrator saved with :meth:`to_dict`."""
        return cls(
            Method(data["method"]),
            float(data["slope"]),
            float(data["intercept"]),
            tuple(data["x_points"]),
            tuple(data["y_points"]),
        )


def choose_method(y: np.ndarray) -> Method:
    """Isotonic for large calibration sets, Platt (sigmoid) otherwise."""
    big = len(y) >= ISOTONIC_MIN_ROWS and min(y.sum(), len(y) - y.sum()) >= ISOTONIC_MIN_POSITIVES
    return Method.ISOTONIC if big else Method.SIGMOID


def _fit_sigmoid(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e4).fit(raw.reshape(-1, 1), y.astype(int))
    return Calibrator(Method.SIGMOID, float(model.coef_[0, 0]), float(model.intercept_[0]))


def _fit_isotonic(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
    xs = tuple(float(v) for v in model.X_thresholds_)
    ys = tuple(float(np.clip(v, 1e-4, 1 - 1e-4)) for v in model.y_thresholds_)
    return Calibrator(Method.ISOTONIC, x_points=xs, y_points=ys)


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: Method | None = None) -> Calibrator:
    """Fit a calibrator on held-out raw scores and their 0/1 outcomes."""
    method = method or choose_method(y)
    fit = _fit_isotonic if method is Method.ISOTONIC else _fit_sigmoid
    return fit(np.asarray(raw, dtype=float), np.asarray(y, dtype=float))
