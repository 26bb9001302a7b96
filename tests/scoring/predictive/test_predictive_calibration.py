"""Calibration maps raw scores to probabilities without throwing the model's ranking away."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelbridge.scoring.predictive.calibration import Calibrator, Method, fit_calibrator
from funnelbridge.scoring.predictive.metrics import roc_auc


def _noisy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = rng.normal(0.0, 2.0, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(raw - 1.0)))).astype(float)
    return raw, y


def test_isotonic_keeps_the_raw_order_within_its_steps() -> None:
    raw, y = _noisy(3000, 1)
    iso = fit_calibrator(raw, y, Method.ISOTONIC)
    assert len(set(np.interp(raw, iso.x_points, iso.y_points).tolist())) < len(raw) / 10  # a step function
    proba = iso.probability(raw)
    order = np.argsort(raw)
    assert np.all(np.diff(proba[order]) > 0)  # distinct raw scores stay distinct and ordered
    assert roc_auc(y, proba) == roc_auc(y, raw)
    assert np.all((proba > 0) & (proba < 1))


def test_the_tie_break_does_not_move_the_calibration() -> None:
    raw, y = _noisy(3000, 2)
    iso = fit_calibrator(raw, y, Method.ISOTONIC)
    assert np.max(np.abs(iso.probability(raw) - np.interp(raw, iso.x_points, iso.y_points))) <= 1e-6


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-20, 20), min_size=2, max_size=50, unique=True), st.sampled_from(list(Method)))
def test_every_calibrator_is_strictly_increasing(raw: list[float], method: Method) -> None:
    calibrator = Calibrator(method, slope=0.8, intercept=-1.0, x_points=(-1.0, 0.0, 1.0), y_points=(0.1, 0.1, 0.6))
    values = np.sort(np.asarray(raw))
    proba = calibrator.probability(values)
    gaps = np.diff(values)
    assert np.all(np.diff(proba)[gaps > 1e-3] > 0)
