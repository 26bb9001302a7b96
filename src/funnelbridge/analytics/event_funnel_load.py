"""Reading an event log export (CSV or Parquet) into a validated frame, ready for any engine.

Columns: ``person_id``, ``event``, ``timestamp`` (ISO 8601; an offset is converted to UTC, no offset means UTC)
plus any property columns, kept as text (a blank cell is ``""``). The frame gains ``ts_us``: the timestamp as
UTC epoch microseconds, which the funnel expressions compare exactly on every engine. Rows are numbered from 1,
not counting the CSV header.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from funnelbridge.analytics.event_funnel import FunnelResult, run_funnel
from funnelbridge.analytics.event_funnel_engines import connect, load_frame
from funnelbridge.analytics.event_funnel_prepare import REQUIRED_COLUMNS
from funnelbridge.analytics.event_funnel_spec import FunnelSpec
from funnelbridge.errors import InputError

__all__ = ["normalize_events", "read_events", "run_funnel_file"]

_EPOCH = pd.Timestamp(0, tz="UTC")


def read_events(path: str | Path) -> pd.DataFrame:
    """Read and validate ``path`` (``.csv`` or ``.parquet``); raises :class:`InputError` naming row and column."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt", ""):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
        else:
            raise InputError(f"{path}: expected a .csv or .parquet file, got {suffix!r}")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    return normalize_events(frame)


def _text(series: pd.Series) -> pd.Series:
    return series.map(lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)).astype(str)


def _utc(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.dt.tz_localize("UTC")
    text = _text(series).str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        value = text.iloc[row]
        why = "it is empty" if not value else f"cannot parse {value!r} as an ISO 8601 timestamp"
        raise InputError(why, record=f"row {row + 1}", field="timestamp")
    return parsed


def _check_text(frame: pd.DataFrame, column: str) -> None:
    empty = frame[column].str.strip() == ""
    if empty.any():
        row = int(empty.to_numpy().nonzero()[0][0])
        raise InputError("it is empty", record=f"row {row + 1}", field=column)


def normalize_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate required columns and types; timestamps to UTC plus ``ts_us``; properties to text."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise InputError(f"missing column(s) {', '.join(missing)} (columns found: {have})")
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        if column != "timestamp":
            out[str(column)] = _text(frame[column])
    for column in ("person_id", "event"):
        _check_text(out, column)
    stamps = _utc(frame["timestamp"]).dt.as_unit("us")
    out["timestamp"] = stamps
    out["ts_us"] = ((stamps - _EPOCH) // pd.Timedelta(microseconds=1)).astype("int64")
    return out.reset_index(drop=True)


def run_funnel_file(path: str | Path, spec: FunnelSpec, engine: str = "duckdb", url: str | None = None) -> FunnelResult:
    """The CLI's one service call: read ``path``, load it into ``engine``, run ``spec``."""
    frame = read_events(path)
    con = connect(engine, url)
    try:
        return run_funnel(load_frame(con, frame), spec)
    finally:
        if engine != "spark":  # the shared local SparkSession stays up for the process
            con.disconnect()
