"""Dividing labelled rows into fit / calibration / validation, and refusing when there is too little history.

With a time column the rows are sorted by time (stable) and the latest :data:`VALIDATION_SHARE` validates; the
latest :data:`CALIBRATION_SHARE` of the rest calibrates. Without one, both cuts are stratified random with the
fixed seed :data:`SEED`. Either way the validation rows are never seen by the model or the calibrator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from funnelbridge.errors import InputError, ModelError
from funnelbridge.scoring.predictive.features import parse_times

__all__ = ["MIN_PER_CLASS", "MIN_ROWS", "Split", "check_history", "split_rows"]

MIN_ROWS = 200
MIN_PER_CLASS = 30
VALIDATION_SHARE = 0.25
CALIBRATION_SHARE = 0.2
SEED = 42
_NEED = f"need at least {MIN_ROWS} rows with an outcome, including at least {MIN_PER_CLASS} of each class"


@dataclass(frozen=True)
class Split:
    """Row positions (into the labelled frame) of each part, and what was set aside."""

    fit: np.ndarray
    calibration: np.ndarray
    validation: np.ndarray
    n_unparseable_time: int
    validation_from: str | None


def _names(positive: str, negative: str | None) -> tuple[str, str]:
    return repr(positive), repr(negative) if negative is not None else "negative"


def check_history(y: np.ndarray, positive: str, negative: str | None) -> None:
    """Raise :class:`ModelError` unless ``y`` has enough outcomes of both classes."""
    n_pos, n = int(y.sum()), len(y)
    pos, neg = _names(positive, negative)
    if n_pos in (0, n):
        only = pos if n_pos else neg
        raise ModelError(f"too little history: all {n} outcomes are {only} (one class only); {_NEED}")
    if n < MIN_ROWS:
        raise ModelError(f"too little history: {n} rows have an outcome; {_NEED}")
    if min(n_pos, n - n_pos) < MIN_PER_CLASS:
        raise ModelError(f"too little history: {n_pos} {pos} and {n - n_pos} {neg} outcomes; {_NEED}")


def _check_part(y: np.ndarray, part: str, hint: str) -> None:
    if len(np.unique(y)) < 2:
        raise ModelError(f"the {part} ({len(y)} rows) has outcomes of one class only; {hint}")


def _random_split(y: np.ndarray) -> Split:
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    train, valid = train_test_split(rows, test_size=VALIDATION_SHARE, stratify=y, random_state=SEED)
    fit, cal = train_test_split(train, test_size=CALIBRATION_SHARE, stratify=y[train], random_state=SEED)
    return Split(np.sort(fit), np.sort(cal), np.sort(valid), 0, None)


def _time_split(times: pd.Series) -> Split:
    valid_rows = np.flatnonzero(times.notna().to_numpy())
    order = valid_rows[np.argsort(times.iloc[valid_rows].to_numpy(), kind="mergesort")]
    n_valid = math.ceil(len(order) * VALIDATION_SHARE)
    train, valid = order[: len(order) - n_valid], order[len(order) - n_valid :]
    n_cal = math.ceil(len(train) * CALIBRATION_SHARE)
    start = times.iloc[valid[0]].isoformat() if len(valid) else None
    return Split(train[: len(train) - n_cal], train[len(train) - n_cal :], valid, len(times) - len(order), start)


def split_rows(frame: pd.DataFrame, y: np.ndarray, time_column: str | None) -> Split:
    """Split labelled rows; refuse (``ModelError``) if any part lacks one of the classes."""
    if time_column is None:
        split = _random_split(y)
        hint = "add more labelled rows"
    else:
        times = parse_times(frame[time_column])
        if times.isna().all():
            raise InputError("no value could be read as a date/time", field=time_column)
        split = _time_split(times)
        hint = f"add more recent history, or train without --time-column ({time_column})"
    _check_part(y[split.validation], "validation slice", hint)
    _check_part(y[split.calibration], "calibration slice", hint)
    _check_part(y[split.fit], "fitting slice", hint)
    return split
