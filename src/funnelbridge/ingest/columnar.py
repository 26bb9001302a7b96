"""Column-wise conversion of a chunk of input rows: the fast lane of :class:`~funnelbridge.ingest.rows.RowConverter`.

A chunk is transposed into columns and each mapped column is coerced as a whole. A column whose text is plainly
clean — all valid text, no NUL, no leading or trailing blanks — takes a vectorized lane (one C-level scan of the
column joined into a single string, then a plain map); any other column is coerced value by value with the exact
per-field coercer. A row that fails anywhere (wrong number of columns, unreadable CSV, a value its coercer refuses)
is converted again by :class:`RowConverter`, so its problems — fields, order and messages — are exactly those of
the row-by-row converter. The fast lane only ever accepts values the coercer would turn into the same result; a
property test checks that on random text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

from funnelbridge.ingest import coerce as c
from funnelbridge.ingest.columns import ColumnMapping
from funnelbridge.ingest.deadletter import Problem
from funnelbridge.ingest.rows import RowConverter

__all__ = ["ColumnConverter", "Columns", "fast_column"]

_EMAIL = re.compile(r"[^@\s<>(),;:\"\[\]\\\x00]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+")
_TZINFO = attrgetter("tzinfo")
_RAW = itemgetter(1)
FastLane = Callable[[list[str]], list[Any] | None]
Column = Callable[[int], list[Any]]
"""The raw values of a chunk's input column, by index."""


def _plain_text(values: list[Any]) -> bool:
    """True when every value is valid text without NUL and without leading/trailing blanks."""
    try:
        joined = "\x00".join(values)
    except TypeError:  # a non-text value (Parquet): the exact coercer handles it
        return False
    if joined.count("\x00") != len(values) - 1:
        return False
    if not joined.isascii():
        try:
            joined.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return list(map(str.strip, values)) == values


def _text_lane(limit: int) -> FastLane:
    def lane(values: list[str]) -> list[Any] | None:
        if max(map(len, values), default=0) > limit:
            return None
        return [v or None for v in values] if "" in values else values

    return lane


def _email_lane(values: list[str]) -> list[Any] | None:
    lowered = [v.lower() or None for v in values]
    if max(map(len, values), default=0) > 320:
        return None
    match = _EMAIL.fullmatch
    return lowered if all(match(v) for v in lowered if v is not None) else None


def _timestamp_lane(zone: tzinfo) -> FastLane:
    parse = datetime.fromisoformat

    def utc(text: str) -> datetime | None:
        if not text:
            return None
        value = parse(text)
        return (value if value.tzinfo is not None else value.replace(tzinfo=zone)).astimezone(UTC)

    def lane(values: list[str]) -> list[Any] | None:
        try:
            if "" not in values:  # parsed in one map; kept as they are when all are UTC already
                parsed = list(map(parse, values))
                if set(map(_TZINFO, parsed)) == {UTC}:
                    return parsed
            return list(map(utc, values))
        except (ValueError, OverflowError):
            return None

    return lane


def fast_column(type_: str, zone: tzinfo) -> FastLane | None:
    """The vectorized lane of a field type, or None when the type has none (coerced value by value).

    A lane gets a column that passed the plain-text check and returns the coerced values, or None when some value
    needs the exact coercer (which then also finds the reason)."""
    if type_.startswith("text:"):
        return _text_lane(int(type_.split(":", 1)[1]))
    if type_ == "email":
        return _email_lane
    if type_ == "timestamp":
        return _timestamp_lane(zone)
    return None


@dataclass
class Columns:
    """A converted chunk: the row numbers and raw values of the good rows, their typed values per field, and
    the rejected rows with their problems."""

    rows: list[int]
    raws: Sequence[Sequence[Any]]
    values: dict[str, list[Any]]
    rejected: list[tuple[int, Sequence[Any], tuple[Problem, ...]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, name: str) -> list[Any]:
        """The values of a field (all None when the file does not map it)."""
        return self.values.get(name) or [None] * len(self.rows)


class ColumnConverter:
    """Converts chunks of rows laid out as ``headers`` according to ``mapping``, column by column."""

    def __init__(self, mapping: ColumnMapping, headers: Sequence[str], zone: tzinfo) -> None:
        self.rows = RowConverter(mapping, headers, zone)
        self.width = len(headers)
        self.lanes = [(i, name, coerce, fast_column(mapping.specs[name].type, zone)) for i, name, coerce, *_ in
                      self.rows.columns]  # fmt: skip

    def convert(self, chunk: Sequence[tuple[int, list[Any]]]) -> Columns:
        """Convert one chunk of ``(row number, raw values)``."""
        width = self.width
        good = [(n, raw) for n, raw in chunk if len(raw) == width and not isinstance(raw[0], Exception)]
        bad = {n for n, _ in chunk} if len(good) < len(chunk) else set()
        if bad:
            bad.difference_update(n for n, _ in good)
        flat = list(chain.from_iterable(map(_RAW, good)))  # every row has ``width`` values: slice columns
        values, failed = self._values(lambda i: flat[i::width], lambda: list(map(_RAW, good)), {})
        return self._assemble(chunk, good, values, bad, failed)

    def convert_columns(
        self, numbers: list[int], raws: Sequence[Sequence[Any]], column: Column, given: dict[str, list[Any]]
    ) -> Columns:
        """What :meth:`convert` gives for rows that all have the header's width and were read without error,
        handed over column by column: ``numbers`` their row numbers, ``raws`` their raw values (indexed only for
        rejected rows and extras) and ``column(i)`` the raw values of input column ``i``. ``given`` holds columns
        already converted (a field's values exactly as its coercer would give them, taken as they are) or derived
        (another name, carried along: kept for the rows kept)."""
        values, failed = self._values(column, lambda: raws, given)
        if not failed:
            return Columns(numbers, raws, values)
        keep = [i for i in range(len(numbers)) if i not in failed]
        kept = {name: [col[i] for i in keep] for name, col in values.items()}
        rejected = [(numbers[i], raws[i], self.rows.convert(raws[i]).problems) for i in sorted(failed)]
        return Columns([numbers[i] for i in keep], [raws[i] for i in keep], kept, rejected)

    def _values(
        self, column: Column, raws: Callable[[], Sequence[Sequence[Any]]], given: dict[str, list[Any]]
    ) -> tuple[dict[str, list[Any]], set[int]]:
        values: dict[str, list[Any]] = dict(given)
        failed: set[int] = set()
        for i, name, coerce, lane in self.lanes:
            if name not in given:
                values[name] = self._column(column(i), coerce, lane, failed)
        if self.rows.extras:
            values["properties"] = self._properties(raws(), values.get("properties"), failed)
        return values, failed

    @staticmethod
    def _column(raw: list[Any], coerce: c.Coercer, lane: FastLane | None, failed: set[int]) -> list[Any]:
        if lane is not None and _plain_text(raw):
            out = lane(raw)
            if out is not None:
                return out
        result: list[Any] = []
        for index, value in enumerate(raw):
            try:
                result.append(coerce(value))
            except c.CoerceError:
                failed.add(index)
                result.append(None)
        return result

    def _properties(self, raws: Sequence[Sequence[Any]], given: list[Any] | None, failed: set[int]) -> list[Any]:
        out: list[Any] = []
        for index, raw in enumerate(raws):
            record: dict[str, Any] = {"properties": given[index] if given else None}
            problems: list[Problem] = []
            self.rows.convert_extras(raw, record, problems)
            if problems:
                failed.add(index)
            out.append(record["properties"])
        return out

    def _assemble(
        self,
        chunk: Sequence[tuple[int, list[Any]]],
        good: list[tuple[int, list[Any]]],
        values: dict[str, list[Any]],
        bad: set[int],
        failed: set[int],
    ) -> Columns:
        if not failed:
            numbers, raws = (list(column) for column in zip(*good, strict=True)) if good else ([], [])
            return Columns(numbers, raws, values, self._rejections(chunk, bad))
        keep = [i for i in range(len(good)) if i not in failed]
        bad.update(good[i][0] for i in failed)
        kept = {name: [col[i] for i in keep] for name, col in values.items()}
        return Columns([good[i][0] for i in keep], [good[i][1] for i in keep], kept, self._rejections(chunk, bad))

    def _rejections(
        self, chunk: Sequence[tuple[int, list[Any]]], bad: set[int]
    ) -> list[tuple[int, Sequence[Any], tuple[Problem, ...]]]:
        if not bad:
            return []
        return [(n, raw, self.rows.convert(raw).problems) for n, raw in chunk if n in bad]
