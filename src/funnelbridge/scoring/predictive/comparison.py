"""Is the model really better than the rule score, or is the gap noise? A paired bootstrap of the AUC difference.

Both scorers are judged on the same validation leads. Resampling those leads with replacement — positives and
negatives separately, so every resample keeps the validation's class counts — and recomputing both AUCs on each
resample gives the spread of the difference *model − rule*. Its 2.5th and 97.5th percentiles are a 95 % interval:
when it lies above zero the model is better, below zero worse, otherwise the validation slice cannot tell them
apart (typical with a few dozen outcomes). Deterministic: the resamples come from a fixed seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from funnelbridge.scoring.predictive.metrics import roc_auc

__all__ = ["AucComparison", "compare_auc"]

RESAMPLES = 1000
SEED = 42


@dataclass(frozen=True)
class AucComparison:
    """Model ROC AUC minus rule ROC AUC on the validation leads, with a 95 % paired-bootstrap interval."""

    difference: float
    ci_low: float
    ci_high: float
    n_positive: int
    n_negative: int
    resamples: int
    verdict: str  # "better", "worse" or "no clear difference"


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    value = roc_auc(y, score)
    return float("nan") if value is None else value


def compare_auc(
    y: np.ndarray, model: np.ndarray, rule: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
) -> AucComparison | None:
    """The paired bootstrap comparison of ``model`` and ``rule`` scores of the same rows; None with one class."""
    y, model, rule = (np.asarray(a, dtype=float) for a in (y, model, rule))
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if len(pos) == 0 or len(neg) == 0:
        return None
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for i in range(resamples):
        rows = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        diffs[i] = _auc(y[rows], model[rows]) - _auc(y[rows], rule[rows])
    low, high = (float(v) for v in np.percentile(diffs, [2.5, 97.5]))
    verdict = "better" if low > 0 else "worse" if high < 0 else "no clear difference"
    difference = _auc(y, model) - _auc(y, rule)
    return AucComparison(difference, low, high, len(pos), len(neg), resamples, verdict)
