"""Validation metrics in plain numpy: ROC AUC, PR AUC, log loss, calibration table, ECE, lift by decile.

Undefined values are ``None`` (JSON ``null``), never NaN: an AUC needs both classes, a rate needs rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CalibrationBin",
    "DecileRow",
    "average_precision",
    "calibration_table",
    "expected_calibration_error",
    "lift_by_decile",
    "log_loss",
    "roc_auc",
]

_EPS = 1e-15


@dataclass(frozen=True)
class CalibrationBin:
    """One probability bin: predicted vs observed."""

    bin: int
    lower: float
    upper: float
    n: int
    mean_predicted: float | None
    observed_rate: float | None


@dataclass(frozen=True)
class DecileRow:
    """One score decile (1 = the top-scored 10 %)."""

    decile: int
    n: int
    positives: int
    rate: float | None
    lift: float | None
    cumulative_capture: float | None


def _arrays(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(y, dtype=float), np.asarray(score, dtype=float)


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U, ties count half); None with one class."""
    y, score = _arrays(y, score)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    rank_sum = float(_ranks(score)[y == 1].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def average_precision(y: np.ndarray, score: np.ndarray) -> float | None:
    """PR AUC as average precision: Σ (Rₖ − Rₖ₋₁)·Pₖ over distinct thresholds; None without positives."""
    y, score = _arrays(y, score)
    n_pos = y.sum()
    if n_pos == 0:
        return None
    order = np.argsort(-score, kind="mergesort")
    y_sorted, s_sorted = y[order], score[order]
    last_of_tie = np.r_[np.diff(s_sorted) != 0, True]
    tp = np.cumsum(y_sorted)[last_of_tie]
    seen = (np.arange(1, len(y) + 1))[last_of_tie]
    recall_gain = np.diff(np.r_[0.0, tp / n_pos])
    return float(np.sum(recall_gain * tp / seen))


def log_loss(y: np.ndarray, probability: np.ndarray) -> float | None:
    """Mean binary cross-entropy (probabilities clipped to [1e-15, 1 − 1e-15]); None without rows."""
    y, p = _arrays(y, probability)
    if len(y) == 0:
        return None
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def calibration_table(y: np.ndarray, probability: np.ndarray, bins: int = 10) -> list[CalibrationBin]:
    """Equal-width probability bins: count, mean predicted probability and observed positive rate."""
    y, p = _arrays(y, probability)
    index = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        mean_p = float(p[mask].mean()) if n else None
        rate = float(y[mask].mean()) if n else None
        rows.append(CalibrationBin(b + 1, b / bins, (b + 1) / bins, n, mean_p, rate))
    return rows


def expected_calibration_error(table: list[CalibrationBin]) -> float | None:
    """Σ (nᵦ / N)·|mean predictedᵦ − observedᵦ| over the bins of a calibration table."""
    total = sum(row.n for row in table)
    if total == 0:
        return None
    gaps = [
        row.n * abs(row.mean_predicted - row.observed_rate)
        for row in table
        if row.mean_predicted is not None and row.observed_rate is not None
    ]
    return float(sum(gaps) / total)


def lift_by_decile(y: np.ndarray, score: np.ndarray) -> list[DecileRow]:
    """Rows sorted by score (highest first, ties in input order), cut into 10 near-equal deciles."""
    y, score = _arrays(y, score)
    order = np.argsort(-score, kind="mergesort")
    total_pos = float(y.sum())
    base = total_pos / len(y) if len(y) else 0.0
    rows, cumulative = [], 0.0
    for i, part in enumerate(np.array_split(y[order], 10)):
        n, pos = len(part), float(part.sum())
        cumulative += pos
        rate = pos / n if n else None
        lift = rate / base if rate is not None and base > 0 else None
        capture = cumulative / total_pos if total_pos > 0 else None
        rows.append(DecileRow(i + 1, n, int(pos), rate, lift, capture))
    return rows
