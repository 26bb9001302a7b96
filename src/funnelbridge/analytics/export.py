"""Copying store tables out as Arrow: the DuckDB engine's loader and ``funnelbridge export --parquet DIR``.

Types are normalised so every engine sees the same data: timestamps become ``timestamp[us, UTC]``, money becomes
``float64``, JSON becomes its JSON text (``string``), booleans stay booleans.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, Numeric, Table, select
from sqlalchemy.types import TypeDecorator

from funnelbridge.errors import NotFoundError
from funnelbridge.store import tables as t
from funnelbridge.store.db import Database

__all__ = ["ExportSummary", "arrow_schema", "export_parquet", "table_to_arrow"]

_CHUNK = 100_000


def _base(column: Any) -> Any:
    """The column's SQL type, looking through TypeDecorators (e.g. the store's UTCDateTime)."""
    kind = column.type
    return kind.impl_instance if isinstance(kind, TypeDecorator) else kind


def _arrow_type(column: Any) -> pa.DataType:
    kind = _base(column)
    if isinstance(kind, DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(kind, Date):
        return pa.date32()
    if isinstance(kind, Boolean):
        return pa.bool_()
    if isinstance(kind, Numeric | Float) and not isinstance(kind, Integer):
        return pa.float64()
    if isinstance(kind, Integer):
        return pa.int64()
    return pa.string()


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema a store table is exported with."""
    return pa.schema([pa.field(c.name, _arrow_type(c)) for c in table.columns])


def _converter(column: Any) -> Callable[[Any], Any] | None:
    kind = _base(column)
    if isinstance(kind, JSON):
        return lambda v: None if v is None else json.dumps(v, sort_keys=True)
    if isinstance(kind, Numeric) and not isinstance(kind, Integer | Float):
        return lambda v: None if v is None else float(v)
    return None


def _store_table(name: str) -> Table:
    try:
        return t.metadata.tables[name]
    except KeyError:
        raise NotFoundError(f"no store table {name!r}") from None


def _batches(db: Database, table: Table) -> Any:
    schema = arrow_schema(table)
    converters = [_converter(c) for c in table.columns]
    with db.read() as conn:
        result = conn.execution_options(stream_results=True, yield_per=_CHUNK).execute(select(table))
        for rows in result.partitions(_CHUNK):
            columns = list(zip(*rows, strict=True)) if rows else [() for _ in table.columns]
            arrays = [
                pa.array([conv(v) for v in col] if conv else list(col), type=f.type)
                for col, conv, f in zip(columns, converters, schema, strict=True)
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def table_to_arrow(db: Database, name: str) -> pa.Table:
    """Read the whole store table ``name`` into Arrow (normalised types)."""
    table = _store_table(name)
    batches = list(_batches(db, table))
    return pa.Table.from_batches(batches, schema=arrow_schema(table))


@dataclass(frozen=True)
class ExportSummary:
    directory: Path
    rows: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "rows": dict(self.rows)}


def export_parquet(
    db: Database,
    directory: Path | str,
    *,
    tables: Sequence[str] | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> ExportSummary:
    """Write every store table (or ``tables``) to ``directory/<table>.parquet``; ``progress(name, rows)`` per table."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name in tables or sorted(t.metadata.tables):
        arrow = table_to_arrow(db, name)
        pq.write_table(arrow, out / f"{name}.parquet")
        counts[name] = arrow.num_rows
        if progress is not None:
            progress(name, arrow.num_rows)
    return ExportSummary(out, counts)
