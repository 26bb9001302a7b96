"""Stage 3 of an event funnel: per-step counts, average and median time to convert, as Ibis expressions.

Time to convert of step k is the counted attempt's time from step k-1 to step k, in seconds. As in PostHog
(``groupArrayIf(timings[k], timings[k] > 0)``), zero-second conversions are left out of the average and the
median. The median is exact: the middle value, or the mean of the two middle values for an even count (PostHog's
ClickHouse ``median`` is an approximation of the same quantity).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

__all__ = ["OVERALL", "FunnelExpressions", "duration", "median_table", "step_table", "with_durations"]

OVERALL = "__all__"


def duration(k: int) -> str:
    return f"d{k}"


@dataclass(frozen=True)
class FunnelExpressions:
    """The Ibis expressions of one funnel: ``persons`` (one row per counted person) and the two summaries."""

    persons: ir.Table
    steps: ir.Table  # g (group), c1..cN, a2..aN
    medians: ir.Table | None  # g, k, median; None for a one-step funnel


def with_durations(persons: ir.Table, n: int) -> ir.Table:
    return persons.mutate(
        **{duration(k): (persons[f"t{k}"] - persons[f"t{k - 1}"]).cast("float64") / 1e6 for k in range(2, n + 1)}
    )


def _grouped(persons: ir.Table, by_breakdown: bool) -> ir.Table:
    return persons.mutate(g=persons.bk if by_breakdown else ibis.literal(OVERALL))


def step_table(persons: ir.Table, n: int, by_breakdown: bool) -> ir.Table:
    """Per group: ``c{k}`` people at step k or further, ``a{k}`` mean seconds from step k-1 (positive only)."""
    p = _grouped(persons, by_breakdown)
    counts = {f"c{k}": (p.reach >= k).ifelse(1, 0).sum() for k in range(1, n + 1)}
    means = {f"a{k}": p[duration(k)].mean(where=p[duration(k)] > 0) for k in range(2, n + 1)}
    return p.group_by("g").aggregate(**counts, **means)


def median_table(persons: ir.Table, n: int, by_breakdown: bool) -> ir.Table | None:
    """Per group and step k >= 2: the exact median of the positive seconds from step k-1."""
    if n < 2:
        return None
    p = _grouped(persons, by_breakdown)
    parts = [
        p.filter(p[duration(k)] > 0).select(g=p.g, k=ibis.literal(k, type="int64"), d=p[duration(k)])
        for k in range(2, n + 1)
    ]
    rows = parts[0] if len(parts) == 1 else ibis.union(*parts)
    ordered = ibis.window(group_by=[rows.g, rows.k], order_by=rows.d)
    counted = ibis.window(group_by=[rows.g, rows.k])
    rows = rows.mutate(pos=ibis.row_number().over(ordered), cnt=rows.d.count().over(counted))
    middle = rows.filter((rows.pos == (rows.cnt - 1) // 2) | (rows.pos == rows.cnt // 2))
    return middle.group_by(["g", "k"]).aggregate(median=middle.d.mean())
