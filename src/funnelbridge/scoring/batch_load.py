"""Arrow lead and event tables for the batch scorer: read from the store in bulk, or built from LeadFacts.

The store is read with SQLAlchemy Core selects whose raw DBAPI rows are fetched in large chunks and turned into
Arrow columns (no per-row Python objects beyond the driver's tuples): only the columns the playbook's rules
read, only the event types they score, only events up to ``as_of``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Integer, Select, String, Text, select, type_coerce

from funnelbridge.domain.clock import as_utc
from funnelbridge.rules.facts import LeadFacts
from funnelbridge.rules.fields import FieldType, field_type
from funnelbridge.rules.ibis import LIST_SEPARATOR, column_name
from funnelbridge.store.tables import accounts, contacts, events

__all__ = [
    "EVENT_COLUMNS",
    "event_schema",
    "events_from_facts",
    "lead_schema",
    "leads_from_facts",
    "load_events",
    "load_leads",
]

EVENT_COLUMNS = ("type", "path", "campaign", "source", "medium")
TS = pa.timestamp("us", tz="UTC")
_ARROW = {
    FieldType.STR: pa.string(),
    FieldType.LIST: pa.string(),
    FieldType.NUM: pa.float64(),
    FieldType.BOOL: pa.bool_(),
    FieldType.TIME: TS,
}
CHUNK = 200_000


def lead_schema(fields: Iterable[str]) -> pa.Schema:
    """``contact_id`` plus one typed column per lead field."""
    cols = [("contact_id", pa.int64())]
    cols += [(column_name(f), _ARROW[field_type(f) or FieldType.STR]) for f in sorted(fields)]
    return pa.schema(cols)


def event_schema() -> pa.Schema:
    return pa.schema([("contact_id", pa.int64()), ("occurred_at", TS)] + [(c, pa.string()) for c in EVENT_COLUMNS])


def _lead_value(value: Any, ftype: FieldType) -> Any:
    if value is None:
        return None
    if ftype == FieldType.LIST:
        items = json.loads(value) if isinstance(value, str) else value
        return LIST_SEPARATOR.join(str(x) for x in items) if isinstance(items, list | tuple) else None
    if ftype == FieldType.BOOL:
        return bool(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return as_utc(value)
    return value


def _fact_value(facts: LeadFacts, name: str) -> Any:
    scope, _, attr = name.partition(".")
    source = {"contact": facts.contact, "account": facts.account or {}, "bant": facts.bant}.get(scope, {})
    return source.get(attr)


def leads_from_facts(leads: Sequence[tuple[int, LeadFacts]], fields: Iterable[str]) -> pa.Table:
    """A lead table from in-memory facts (tests, simulations)."""
    schema = lead_schema(fields)
    names = sorted(fields)
    data: dict[str, list[Any]] = {"contact_id": [cid for cid, _ in leads]}
    for name in names:
        ftype = field_type(name) or FieldType.STR
        data[column_name(name)] = [_lead_value(_fact_value(f, name), ftype) for _, f in leads]
    return pa.table(data, schema=schema)


def events_from_facts(leads: Sequence[tuple[int, LeadFacts]]) -> pa.Table:
    """An event table from in-memory facts."""
    rows = [
        {"contact_id": cid, "occurred_at": e.occurred_at, **{c: getattr(e, c) for c in EVENT_COLUMNS}}
        for cid, facts in leads
        for e in facts.events
    ]
    return pa.Table.from_pylist(rows, schema=event_schema())


# --- from the store -----------------------------------------------------------------------------------------


def _lead_column(name: str) -> Any:
    scope, _, attr = name.partition(".")
    if scope == "account":
        return accounts.c[attr]
    return contacts.c[f"bant_{attr}" if scope == "bant" else attr]


def _time_array(values: list[Any]) -> pa.Array:
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, str):
        try:
            return pa.array(values, pa.string()).cast(pa.timestamp("us")).cast(TS)
        except pa.ArrowInvalid:
            values = [None if v is None else as_utc(datetime.fromisoformat(v)) for v in values]
    return pa.array(values, TS)


def _column(values: list[Any], arrow_type: pa.DataType, convert: Callable[[Any], Any] | None) -> pa.Array:
    if arrow_type == TS:
        return _time_array(values)
    if convert is not None:
        values = [convert(v) for v in values]
    return pa.array(values, arrow_type)


def _raw(column: Any) -> Any:
    """The column without SQLAlchemy's per-value result processing (times, JSON and decimals are converted
    column-wise into Arrow instead)."""
    return type_coerce(column, Text).label(column.name) if not isinstance(column.type, String | Integer) else column


def _fetch(
    conn: Connection, query: Select[Any], schema: pa.Schema, converters: dict[str, Callable[[Any], Any]]
) -> pa.Table:
    """Run ``query`` and stream its rows, in large partitions, into Arrow record batches of ``schema``."""
    batches = []
    result = conn.execution_options(yield_per=CHUNK).execute(query)
    for rows in result.partitions(CHUNK):
        columns = list(zip(*rows, strict=True))
        arrays = [
            _column(list(col), fld.type, converters.get(fld.name)) for col, fld in zip(columns, schema, strict=True)
        ]
        batches.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
    return pa.Table.from_batches(batches, schema=schema)


def load_leads(conn: Connection, fields: Iterable[str]) -> pa.Table:
    """The lead table of every live (not merged-away) contact, with the columns for ``fields``."""
    names = sorted(fields)
    query = (
        select(contacts.c.id, *[_raw(_lead_column(n)) for n in names])
        .select_from(contacts.outerjoin(accounts, contacts.c.account_id == accounts.c.id))
        .where(contacts.c.merged_into.is_(None))
        .order_by(contacts.c.id)
    )
    converters: dict[str, Callable[[Any], Any]] = {}
    for name in names:
        ftype = field_type(name) or FieldType.STR
        if ftype in (FieldType.LIST, FieldType.NUM, FieldType.BOOL):
            converters[column_name(name)] = partial(_lead_value, ftype=ftype)
    return _fetch(conn, query, lead_schema(names), converters)


def load_events(conn: Connection, as_of: datetime, types: Iterable[str] | None) -> pa.Table:
    """Events up to ``as_of`` of known contacts (only of ``types`` unless None), as an event table."""
    c = events.c
    query = select(c.contact_id, _raw(c.occurred_at), *[c[n] for n in EVENT_COLUMNS]).where(
        c.contact_id.is_not(None), c.occurred_at <= as_utc(as_of)
    )
    if types is not None:
        query = query.where(c.type.in_(sorted(set(types))))
    return _fetch(conn, query, event_schema(), {})
