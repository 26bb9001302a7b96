"""The paired bootstrap comparison of model and rule AUC: clear gaps are called, noise is not."""

from __future__ import annotations

import numpy as np

from funnelbridge.scoring.predictive.comparison import compare_auc
from funnelbridge.scoring.predictive.metrics import roc_auc


def _outcomes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * signal - 2)))).astype(float)
    return y, signal, rng


def test_a_much_better_scorer_is_called_better() -> None:
    y, signal, rng = _outcomes(2000, 1)
    gap = compare_auc(y, signal, signal + rng.normal(0, 3, len(y)))
    assert gap is not None and gap.verdict == "better" and gap.ci_low > 0
    assert gap.n_positive == int(y.sum()) and gap.n_positive + gap.n_negative == len(y)


def test_the_point_estimate_is_the_auc_difference_and_swapping_mirrors_it() -> None:
    y, signal, rng = _outcomes(600, 2)
    other = signal + rng.normal(0, 1, len(y))
    gap, mirrored = compare_auc(y, signal, other), compare_auc(y, other, signal)
    assert gap is not None and mirrored is not None
    assert gap.difference == roc_auc(y, signal) - roc_auc(y, other)  # type: ignore[operator]
    assert mirrored.difference == -gap.difference
    assert mirrored.verdict == {"better": "worse", "worse": "better"}.get(gap.verdict, gap.verdict)


def test_two_equally_good_scorers_on_few_outcomes_are_no_clear_difference() -> None:
    y, signal, rng = _outcomes(300, 3)
    a, b = signal + rng.normal(0, 1, len(y)), signal + rng.normal(0, 1, len(y))
    gap = compare_auc(y, a, b)
    assert gap is not None and gap.verdict == "no clear difference" and gap.ci_low < 0 < gap.ci_high


def test_one_class_has_no_comparison_and_results_are_deterministic() -> None:
    assert compare_auc(np.zeros(5), np.arange(5.0), np.arange(5.0)) is None
    y, signal, rng = _outcomes(200, 4)
    other = rng.normal(size=len(y))
    assert compare_auc(y, signal, other) == compare_auc(y, signal, other)
