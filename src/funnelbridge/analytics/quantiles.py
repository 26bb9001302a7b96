"""Distribution summaries (n, mean, p25, median, p75, p90) of a numeric column per group, the same on every engine.

DuckDB and PostgreSQL compute the percentiles in the database (``quantile_cont`` / ``percentile_cont``: linear
interpolation). SQLite has no percentile aggregate and Spark only an approximate one, so there the values are fetched
and numpy computes the same linear-interpolation percentiles (listed in ``engines.UNSUPPORTED``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir
import numpy as np

from funnelbridge.analytics.engines import EngineKind
from funnelbridge.analytics.tables import Context

__all__ = ["PERCENTILES", "Summary", "summarize"]

PERCENTILES = {"p25": 0.25, "median": 0.5, "p75": 0.75, "p90": 0.9}


@dataclass(frozen=True)
class Summary:
    """A distribution in the column's unit (the reports use days)."""

    n: int
    mean: float | None
    p25: float | None
    median: float | None
    p75: float | None
    p90: float | None

    @classmethod
    def empty(cls) -> Summary:
        return cls(0, None, None, None, None, None)

    def scaled(self, factor: float, digits: int = 2) -> Summary:
        def s(v: float | None) -> float | None:
            return None if v is None else round(v * factor, digits)

        return Summary(self.n, s(self.mean), s(self.p25), s(self.median), s(self.p75), s(self.p90))


def _in_engine(table: ir.Table, value: str, keys: list[str]) -> dict[tuple[Any, ...], Summary]:
    col = table[value]
    aggs: dict[str, Any] = {"n": col.count(), "mean": col.mean()}
    aggs.update({name: col.quantile(q) for name, q in PERCENTILES.items()})
    frame = table.group_by(keys).aggregate(**aggs).execute() if keys else table.aggregate(**aggs).execute()
    out: dict[tuple[Any, ...], Summary] = {}
    for _, row in frame.iterrows():
        if int(row["n"]) == 0:
            continue
        stats = [None if row[k] != row[k] else float(row[k]) for k in ("mean", *PERCENTILES)]
        out[tuple(row[k] for k in keys)] = Summary(int(row["n"]), *stats)
    return out


def _in_python(table: ir.Table, value: str, keys: list[str]) -> dict[tuple[Any, ...], Summary]:
    frame = table.select(*keys, value).filter(table[value].notnull()).execute()
    groups = frame.groupby(keys, sort=False) if keys else [((), frame)]
    out: dict[tuple[Any, ...], Summary] = {}
    for key, part in groups:
        values = part[value].to_numpy(dtype="float64")
        if len(values) == 0:
            continue
        qs = np.quantile(values, list(PERCENTILES.values()), method="linear")
        name = key if isinstance(key, tuple) else (key,)
        out[name] = Summary(len(values), float(values.mean()), *(float(q) for q in qs))
    return out


def summarize(
    ctx: Context, table: ir.Table, value: str, keys: list[str] | None = None
) -> dict[tuple[Any, ...], Summary]:
    """Summaries of ``table[value]`` (nulls ignored) per distinct ``keys`` tuple (``()`` when no keys)."""
    keys = keys or []
    if ctx.engine.kind in (EngineKind.DUCKDB, EngineKind.POSTGRES):
        return _in_engine(table.filter(table[value].notnull()), value, keys)
    return _in_python(table, value, keys)
