"""Coerce an outcome column to 0/1: which value is the positive class, and which rows have no outcome.

Accepted: any column with exactly two distinct non-blank values. The positive value is chosen as follows:

1. ``positive_label`` when given (compared case-insensitively, after trimming);
2. a value that reads as a success: ``1``, ``true``, ``yes``, ``y``, ``t``, ``won``, ``win``, ``converted``,
   ``customer``, ``closed won``, ``positive``, ``success``;
3. otherwise the other value when one reads as a failure (``0``, ``false``, ``no``, ``lost``, ...);
4. otherwise, for two numbers, the larger one;
5. otherwise the less frequent value (an outcome worth predicting is usually the rarer one; ties go to the
   alphabetically last value). The choice is reported, so a user can override it.

Blank values (empty, whitespace, NaN) mean "no outcome yet": those rows are set aside and counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from funnelbridge.errors import InputError

__all__ = ["TargetCoding", "coerce_target", "normalize_label"]

_POSITIVE = frozenset(
    {"1", "true", "yes", "y", "t", "won", "win", "converted", "customer", "closed won", "positive", "success"}
)
_NEGATIVE = frozenset({"0", "false", "no", "n", "f", "lost", "lose", "closed lost", "negative", "failure"})


@dataclass(frozen=True)
class TargetCoding:
    """How an outcome column was read."""

    column: str
    positive: str
    negative: str | None
    rule: str
    n_blank: int


def normalize_label(value: object) -> str:
    """The comparable form of a target value: trimmed, lower case, ``1.0`` → ``1``; blank → ``""``."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | float | np.integer | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip().lower()


def _as_number(label: str) -> float | None:
    try:
        return float(label)
    except ValueError:
        return None


def _choose_positive(counts: dict[str, int], positive_label: str | None) -> tuple[str, str]:
    labels = sorted(counts)
    if positive_label is not None:
        wanted = normalize_label(positive_label)
        if wanted not in counts:
            raise InputError(f"positive label {positive_label!r} not found; values are {labels}")
        return wanted, "given"
    for label in labels:
        if label in _POSITIVE:
            return label, "reads as success"
    for label in labels:
        if label in _NEGATIVE and len(labels) == 2:
            return labels[1 - labels.index(label)], "other value reads as failure"
    numbers = [_as_number(label) for label in labels]
    if len(labels) == 2 and all(n is not None for n in numbers):
        return max(labels, key=lambda lab: float(lab)), "larger number"
    return min(reversed(labels), key=counts.__getitem__), "less frequent value"


def coerce_target(series: pd.Series, positive_label: str | None = None) -> tuple[TargetCoding, np.ndarray]:
    """Read ``series`` as a binary outcome: (coding, labels) with labels 1.0, 0.0 or NaN for blank rows."""
    labels = np.array([normalize_label(v) for v in series.tolist()], dtype=object)
    present = labels != ""
    values, counts = np.unique(labels[present].astype(str), return_counts=True)
    table = dict(zip(values.tolist(), counts.tolist(), strict=True))
    name = str(series.name)
    if len(table) > 2:
        shown = ", ".join(sorted(table)[:6])
        raise InputError(
            f"target has {len(table)} distinct values ({shown}{', ...' if len(table) > 6 else ''}); "
            "need exactly two (e.g. won/lost, 1/0)",
            field=name,
        )
    if not table:
        raise InputError("target column is blank in every row", field=name)
    positive, rule = _choose_positive(table, positive_label)
    negative = next((lab for lab in table if lab != positive), None)
    y = np.where(present, (labels == positive).astype(float), np.nan)
    return TargetCoding(name, positive, negative, rule, int((~present).sum())), y
