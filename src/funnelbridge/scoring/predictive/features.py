"""From any table of leads to a model matrix, through a fitted, serializable :class:`FeaturePlan`.

Fitting looks at each column once and decides its kind:

- numeric (or text that is ≥ 95 % numbers): kept as float, blanks become NaN (the GBM routes them);
- boolean (``true/false``, ``yes/no``): 1.0 / 0.0, blanks NaN;
- date/time (a datetime dtype, or text that reads as dates): calendar parts — hour of day (only when the times
  are not all midnight), day of week and month — never the raw absolute time, which would not generalize;
- other text: a pandas ``category`` whose levels are the values seen at least ``min_level_count`` times (at most
  ``max_levels``); rarer or unseen values fold into ``__other__``, blanks into ``__blank__``;
- dropped, with the reason recorded: excluded columns (target, id, rule score), blank or constant columns, and
  ID-like text (more than ``id_ratio`` of the non-blank values distinct, e.g. hashes or e-mail addresses) and
  ID-like numbers (50+ values, all distinct integers, e.g. row numbers or CRM record ids).

The time column that orders the validation split contributes its hour and day of week only: its raw value and
its month would tell the model *when* a lead arrived, which a later validation period cannot reuse.

:func:`transform` applies the same plan to new rows, so scoring and explaining see identical features.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from funnelbridge.errors import InputError

__all__ = [
    "BLANK",
    "OTHER",
    "ColumnPlan",
    "DroppedColumn",
    "FeaturePlan",
    "Kind",
    "PlanOptions",
    "fit_plan",
    "parse_times",
    "transform",
]

BLANK = "__blank__"
OTHER = "__other__"
_BOOL = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0}
_DATE_LIKE = re.compile(
    r"\d{1,4}[-/. ]([A-Za-z]{3,9}|\d{1,2})[-/. ,]+\d{2,4}"  # 2024-03-01, 01/03/2024, 01 Mar 2024
    r"|[A-Za-z]{3,9}\.? \d{1,2},? \d{2,4}"  # Mar 1, 2024
)


class Kind(StrEnum):
    """How a source column becomes features."""

    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"


@dataclass(frozen=True)
class ColumnPlan:
    """One source column and how it is turned into features."""

    name: str
    kind: Kind
    levels: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        """Names of the features this column produces."""
        if self.kind is Kind.DATETIME:
            return tuple(f"{self.name}:{part}" for part in self.parts)
        return (self.name,)


@dataclass(frozen=True)
class DroppedColumn:
    """A column that is not a feature, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class PlanOptions:
    """Thresholds of :func:`fit_plan`."""

    id_ratio: float = 0.5
    min_level_count: int = 10
    max_levels: int = 50
    numeric_share: float = 0.95
    date_share: float = 0.9


@dataclass(frozen=True)
class FeaturePlan:
    """The fitted transformation: which columns, which kinds, which levels; plus what was dropped."""

    columns: tuple[ColumnPlan, ...]
    dropped: tuple[DroppedColumn, ...] = field(default=())

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Readable feature names, in model-matrix order."""
        return tuple(name for col in self.columns for name in col.features)

    @property
    def matrix_columns(self) -> tuple[str, ...]:
        """Column names of the model matrix: the feature names made safe for LightGBM, and unique."""
        return _safe_names(self.feature_names)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (see :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeaturePlan:
        """Rebuild a plan saved with :meth:`to_dict`."""
        columns = tuple(
            ColumnPlan(c["name"], Kind(c["kind"]), tuple(c["levels"]), tuple(c["parts"])) for c in data["columns"]
        )
        return cls(columns, tuple(DroppedColumn(d["name"], d["reason"]) for d in data["dropped"]))


def _safe_names(names: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for i, name in enumerate(names):
        safe = re.sub(r"[^0-9A-Za-z_]", "_", name) or f"f{i}"
        out.append(safe if safe not in out else f"{safe}_{i}")
    return tuple(out)


def _text(series: pd.Series) -> np.ndarray:
    """Values as stripped strings; missing values as ``""``."""
    return np.array(["" if pd.isna(v) else str(v).strip() for v in series.tolist()], dtype=object)


def parse_times(series: pd.Series) -> pd.Series:
    """Parse mixed date/time formats to UTC timestamps; unparseable or blank values become NaT.

    Naive times are read as UTC; ``01/02/2018`` is month first (pandas' default).
    """
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series.dt.tz_localize("UTC")
    text = pd.Series(_text(series), index=series.index).replace("", None)
    return pd.to_datetime(text, format="mixed", utc=True, errors="coerce")


def _looks_like_dates(values: np.ndarray, share: float) -> bool:
    sample = values[:1000]
    if sum(bool(_DATE_LIKE.search(v)) for v in sample) < share * len(sample):
        return False
    return bool(parse_times(pd.Series(sample)).notna().mean() >= share)


def _datetime_plan(name: str, times: pd.Series, is_time_column: bool) -> ColumnPlan | DroppedColumn:
    valid = times.dropna()
    parts = []
    if bool((valid.dt.hour != 0).any() or (valid.dt.minute != 0).any()):
        parts.append("hour")
    parts.append("dayofweek")
    if not is_time_column:
        parts.append("month")
    return ColumnPlan(name, Kind.DATETIME, parts=tuple(parts))


def _categorical_plan(name: str, values: np.ndarray, options: PlanOptions) -> ColumnPlan | DroppedColumn:
    present = values[values != ""]
    uniques, counts = np.unique(present.astype(str), return_counts=True)
    ratio = len(uniques) / max(len(present), 1)
    if ratio > options.id_ratio and len(uniques) > 20:
        return DroppedColumn(name, f"ID-like: {len(uniques)} distinct values in {len(present)} rows ({ratio:.0%})")
    order = np.lexsort((uniques, -counts))
    kept = [str(uniques[i]) for i in order if counts[i] >= options.min_level_count][: options.max_levels]
    if not kept:
        return DroppedColumn(name, f"no value occurs {options.min_level_count}+ times")
    return ColumnPlan(name, Kind.CATEGORICAL, levels=tuple(kept))


def _numeric_plan(name: str, numbers: pd.Series) -> ColumnPlan | DroppedColumn:
    values = numbers.dropna().to_numpy(dtype=float)
    if len(values) >= 50 and np.all(values == np.round(values)) and len(np.unique(values)) == len(values):
        return DroppedColumn(name, f"ID-like: all {len(values)} values are distinct integers")
    return ColumnPlan(name, Kind.NUMERIC)


def _text_plan(name: str, series: pd.Series, options: PlanOptions, is_time_column: bool) -> ColumnPlan | DroppedColumn:
    values = _text(series)
    present = values[values != ""]
    if {v.lower() for v in present} <= _BOOL.keys():
        return ColumnPlan(name, Kind.BOOLEAN)
    numbers = pd.to_numeric(pd.Series(present), errors="coerce")
    if numbers.notna().mean() >= options.numeric_share:
        return _numeric_plan(name, numbers)
    if _looks_like_dates(present, options.date_share):
        return _datetime_plan(name, parse_times(pd.Series(present)), is_time_column)
    return _categorical_plan(name, values, options)


def _column_plan(
    name: str, series: pd.Series, options: PlanOptions, is_time_column: bool
) -> ColumnPlan | DroppedColumn:
    if series.isna().all() or (_text(series) == "").all():
        return DroppedColumn(name, "blank in every row")
    if series.dropna().nunique() == 1 and not series.isna().any():
        return DroppedColumn(name, "constant: the same value in every row")
    if pd.api.types.is_bool_dtype(series.dtype):
        return ColumnPlan(name, Kind.BOOLEAN)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return _numeric_plan(name, series)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return _datetime_plan(name, parse_times(series), is_time_column)
    return _text_plan(name, series, options, is_time_column)


def fit_plan(
    frame: pd.DataFrame,
    exclude: Mapping[str, str] | None = None,
    time_column: str | None = None,
    options: PlanOptions | None = None,
) -> FeaturePlan:
    """Decide, column by column, how ``frame`` becomes features. ``exclude`` maps column → reason."""
    exclude = exclude or {}
    options = options or PlanOptions()
    dropped = [DroppedColumn(str(name), reason) for name, reason in exclude.items() if name in frame.columns]
    planned = [
        _column_plan(str(name), frame[name], options, name == time_column)
        for name in frame.columns
        if name not in exclude
    ]
    columns = tuple(p for p in planned if isinstance(p, ColumnPlan))
    return FeaturePlan(columns, (*dropped, *(p for p in planned if isinstance(p, DroppedColumn))))


def _column_features(col: ColumnPlan, series: pd.Series) -> list[pd.Series | pd.Categorical]:
    if col.kind is Kind.NUMERIC:
        raw = series if pd.api.types.is_numeric_dtype(series.dtype) else pd.Series(_text(series))
        return [pd.to_numeric(raw, errors="coerce").astype(float).to_numpy()]
    if col.kind is Kind.BOOLEAN:
        if pd.api.types.is_bool_dtype(series.dtype):
            return [series.astype(float).to_numpy()]
        return [np.array([_BOOL.get(v.lower(), np.nan) for v in _text(series)], dtype=float)]
    if col.kind is Kind.DATETIME:
        times = parse_times(series)
        parts = {"hour": times.dt.hour, "dayofweek": times.dt.day_of_week, "month": times.dt.month}
        return [parts[p].astype(float).to_numpy() for p in col.parts]
    values = _text(series)
    known = set(col.levels)
    folded = [BLANK if v == "" else (v if v in known else OTHER) for v in values]
    return [pd.Categorical(folded, categories=[*col.levels, OTHER, BLANK])]


def transform(plan: FeaturePlan, frame: pd.DataFrame) -> pd.DataFrame:
    """The model matrix of ``frame`` under ``plan`` (float and category columns, original row order)."""
    missing = [col.name for col in plan.columns if col.name not in frame.columns]
    if missing:
        raise InputError(f"columns used by the model are missing: {', '.join(missing)}")
    data: list[Any] = []
    for col in plan.columns:
        data.extend(_column_features(col, frame[col.name]))
    return pd.DataFrame(dict(zip(plan.matrix_columns, data, strict=True)), index=frame.index)
