"""Turning raw input rows into typed records: one compiled converter per column mapping.

A converter reads a row (a sequence of raw values in header order), coerces every mapped column with the
coercer of its field type, collects unmapped columns into ``properties`` and returns either the record (a dict of
field → value) or the problems (field, reason) — never raising for bad data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from funnelbridge.ingest import coerce as c
from funnelbridge.ingest.columns import ColumnMapping, normalize_header
from funnelbridge.ingest.deadletter import Problem

__all__ = ["MAX_PROPERTY_CHARS", "MEMO_SIZE", "Converted", "RowConverter", "coercer_for"]

MAX_PROPERTY_CHARS = 10_000
"""Longest text kept in an extra (properties) column; longer values reject the row."""
MEMO_SIZE = 2048
"""Distinct texts per column whose coerced value is remembered (see :class:`RowConverter`)."""
_IMMUTABLE = ("text:", "int", "decimal", "float", "bool", "date", "timestamp", "email", "country")
_MISS = object()

_SIMPLE: dict[str, c.Coercer] = {
    "int": c.to_int,
    "decimal": c.to_decimal,
    "float": c.to_float,
    "bool": c.to_bool,
    "date": c.to_date,
    "email": c.to_email,
    "country": c.to_country,
    "list": c.to_list,
    "json": c.to_json_object,
}


def coercer_for(type_: str, zone: tzinfo) -> c.Coercer:
    """The coercer of a field type name (``text:200``, ``int``, ``timestamp`` ...)."""
    if type_.startswith("text:"):
        return c.to_text(int(type_.split(":", 1)[1]))
    if type_ == "timestamp":
        return c.to_timestamp(zone)
    return _SIMPLE[type_]


@dataclass(frozen=True)
class Converted:
    """The result of converting one row: a record, or the reasons it was refused."""

    record: dict[str, Any] | None
    problems: tuple[Problem, ...] = ()


class RowConverter:
    """Converts rows laid out as ``headers`` according to ``mapping``.

    Coercers are pure, so the value of a text cell is remembered per column (the first :data:`MEMO_SIZE` distinct
    texts of columns whose values are immutable): the columns of an export that repeat — country, source, title,
    company, stage — are coerced once per distinct text instead of once per row."""

    def __init__(self, mapping: ColumnMapping, headers: Sequence[str], zone: tzinfo) -> None:
        index = {h: i for i, h in enumerate(headers)}
        self.width = len(headers)
        self.columns: list[tuple[int, str, c.Coercer, dict[str, Any] | None]] = [
            (index[h], name, coercer_for(t, zone), {} if t.startswith(_IMMUTABLE) else None)
            for h, name in mapping.fields.items()
            for t in [mapping.specs[name].type]
        ]
        self.extras = [(index[h], normalize_header(h) or f"column_{index[h] + 1}") for h in mapping.extras]
        self._extra_text = c.to_text(MAX_PROPERTY_CHARS)

    def convert(self, row: Sequence[Any]) -> Converted:
        if len(row) == 1 and isinstance(row[0], Exception):
            return Converted(None, (Problem("row", f"unreadable CSV: {row[0]}"),))
        if len(row) != self.width:
            return Converted(None, (Problem("row", f"expected {self.width} columns, got {len(row)}"),))
        record: dict[str, Any] = {}
        problems: list[Problem] = []
        for i, name, coerce, memo in self.columns:
            raw = row[i]
            if memo is not None and raw.__class__ is str:
                hit = memo.get(raw, _MISS)
                if hit is not _MISS:
                    record[name] = hit
                    continue
            try:
                record[name] = value = coerce(raw)
            except c.CoerceError as exc:
                problems.append(Problem(name, str(exc)))
                continue
            if memo is not None and raw.__class__ is str and len(memo) < MEMO_SIZE:
                memo[raw] = value
        if self.extras:
            self.convert_extras(row, record, problems)
        return Converted(None, tuple(problems)) if problems else Converted(record)

    def convert_extras(self, row: Sequence[Any], record: dict[str, Any], problems: list[Problem]) -> None:
        """Add the unmapped columns of ``row`` to ``record['properties']``, collecting their problems."""
        props = dict(record.get("properties") or {})
        for i, name in self.extras:
            try:
                value = self._extra_text(row[i]) if isinstance(row[i], str) else _plain(row[i])
            except c.CoerceError as exc:
                problems.append(Problem(name, str(exc)))
                continue
            if value is not None and name not in props:
                props[name] = value
        record["properties"] = props or None


def _plain(value: Any) -> Any:
    """Parquet values kept as properties must be JSON-able."""
    if isinstance(value, float) and value != value:
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
