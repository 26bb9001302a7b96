from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from funnelbridge.scoring.predictive.metrics import (
    average_precision,
    calibration_table,
    expected_calibration_error,
    lift_by_decile,
    log_loss,
    roc_auc,
)


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    score = np.round(rng.random(500) * 0.8 + 0.15 * y, 2)  # ties on purpose
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert average_precision(y, score) == pytest.approx(average_precision_score(y, score))
    assert log_loss(y, score) == pytest.approx(sk_log_loss(y, score))


def test_undefined_values_are_none() -> None:
    ones = np.ones(20)
    assert roc_auc(ones, np.linspace(0, 1, 20)) is None
    assert average_precision(np.zeros(20), np.linspace(0, 1, 20)) is None
    assert log_loss(np.array([]), np.array([])) is None
    rows = lift_by_decile(np.zeros(5), np.arange(5.0))
    assert all(row.lift is None and row.cumulative_capture is None for row in rows)
    assert [row.n for row in rows] == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert rows[-1].rate is None


def test_perfect_score_captures_everything_in_the_top_decile() -> None:
    y = np.r_[np.ones(10), np.zeros(90)]
    rows = lift_by_decile(y, y.copy())
    assert rows[0].cumulative_capture == 1.0 and rows[0].lift == 10.0 and rows[0].rate == 1.0
    assert roc_auc(y, y) == 1.0 and average_precision(y, y) == 1.0


def test_calibration_table_and_ece() -> None:
    p = np.array([0.05, 0.05, 0.95, 0.95, 0.5, 1.0])
    y = np.array([0, 0, 1, 1, 1, 1])
    table = calibration_table(y, p)
    assert [row.n for row in table] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 3]
    assert table[1].mean_predicted is None and table[1].observed_rate is None
    assert table[9].observed_rate == 1.0
    expected = (2 * 0.05 + 1 * 0.5 + 3 * abs((0.95 + 0.95 + 1.0) / 3 - 1.0)) / 6
    assert expected_calibration_error(table) == pytest.approx(expected)


labels = arrays(np.int8, st.integers(1, 300), elements=st.integers(0, 1))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), y=labels)
def test_metric_invariants(data: st.DataObject, y: np.ndarray) -> None:
    score = data.draw(arrays(np.float64, len(y), elements=st.floats(0, 1, allow_nan=False)))
    rows = lift_by_decile(y, score)
    assert sum(row.n for row in rows) == len(y)
    assert sum(row.positives for row in rows) == int(y.sum())
    captures = [row.cumulative_capture for row in rows]
    if y.sum() > 0:
        assert all(a is not None and b is not None and a <= b + 1e-12 for a, b in itertools.pairwise(captures))
        assert captures[-1] == pytest.approx(1.0)
        # lift is a rate ratio: its row-weighted mean is exactly 1
        weighted = sum(row.n * (row.lift or 0.0) for row in rows) / len(y)
        assert weighted == pytest.approx(1.0)
    auc = roc_auc(y, score)
    if auc is not None:
        assert 0.0 <= auc <= 1.0
        assert auc + (roc_auc(y, -score) or 0.0) == pytest.approx(1.0)
        ap = average_precision(y, score)
        assert ap is not None and 0.0 < ap <= 1.0 + 1e-12
    ece = expected_calibration_error(calibration_table(y, score))
    assert ece is not None and 0.0 <= ece <= 1.0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_score_has_lift_near_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(20_000) < 0.3).astype(float)
    rows = lift_by_decile(y, rng.random(20_000))
    assert all(0.8 < (row.lift or 0.0) < 1.2 for row in rows)
    assert 0.45 < (roc_auc(y, rng.random(20_000)) or 0.0) < 0.55
