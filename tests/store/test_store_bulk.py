"""The SQLite fast path of :mod:`funnelbridge.store.bulk`: parameters converted column by column are the ones the
row-by-row conversion gave (random rows, hypothesis), and contacts inserted column-wise are stored exactly as
SQLAlchemy's own type processing stores them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from funnelbridge.ingest.bulkstore import insert_contacts
from funnelbridge.store import Database
from funnelbridge.store.bulk import _sqlite_params, sqlite_time
from funnelbridge.store.tables import contacts


def _row_wise(rows: Sequence[Mapping[str, Any]], names: list[str], defaults: Mapping[str, Any]) -> list[Any]:
    """The conversion as it was, one row at a time (the reference)."""
    consts = {n: defaults[n] for n in names if n not in rows[0]}

    def kind(n: str) -> type | None:
        if n in consts:
            return type(consts[n])
        return next((type(r[n]) for r in rows if r.get(n) is not None), None)

    kinds = {n: kind(n) for n in names}
    times = [i for i, n in enumerate(names) if kinds[n] is not None and issubclass(kinds[n], datetime)]  # type: ignore[arg-type]
    docs = [i for i, n in enumerate(names) if kinds[n] in (dict, list)]
    out = []
    for row in rows:
        values = list(itemgetter(*names)({**consts, **row}) if len(names) > 1 else [{**consts, **row}[names[0]]])
        for i in times:
            values[i] = None if values[i] is None else sqlite_time(values[i])
        for i in docs:
            values[i] = None if values[i] is None else json.dumps(values[i])
        out.append(tuple(values))
    return out


_ZONES = st.sampled_from([UTC, None, timezone(timedelta(hours=-5)), ZoneInfo("Europe/Berlin"), timezone(timedelta(0))])
_TIMES = st.builds(
    lambda at, zone: at.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)),
    _ZONES,
)
_DOCS = st.one_of(st.dictionaries(st.text(max_size=3), st.integers() | st.text(max_size=3), max_size=3),
                  st.lists(st.integers(), max_size=3))  # fmt: skip
_KINDS = {"time": _TIMES, "doc": _DOCS, "text": st.text(max_size=5), "int": st.integers(), "bool": st.booleans()}


@st.composite
def _params(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[str], dict[str, Any]]:
    kinds = draw(st.lists(st.sampled_from(sorted(_KINDS)), min_size=1, max_size=6))
    count = draw(st.integers(1, 12))
    given_names = [f"p{i}" for i in range(len(kinds))]
    pools = {n: st.none() | _KINDS[k] for n, k in zip(given_names, kinds, strict=True)}
    repeats = draw(st.booleans())  # rows sharing values: each distinct time is formatted once
    rows = [{n: draw(pool) for n, pool in pools.items()} for _ in range(count)]
    if repeats:
        rows = [dict(rows[i % 2]) for i in range(count)]
    defaults = {"d_time": draw(_TIMES), "d_none": None, "d_doc": draw(_DOCS), "d_int": 7}
    names = draw(st.permutations([*given_names, *defaults]))
    return rows, list(names), defaults


@given(_params())
def test_column_wise_parameters_are_the_row_wise_ones(params: tuple[list[dict[str, Any]], list[str], Any]) -> None:
    rows, names, defaults = params
    assert _sqlite_params(rows, names, defaults) == _row_wise(rows, names, defaults)


def _contact_rows(times: list[datetime | None]) -> list[dict[str, Any]]:
    return [
        {"email": f"p{i}@x.io" if i % 3 else None, "external_id": f"u{i}" if i % 3 == 1 else None,
         "created_at": at or times[0], "identified_at": at if i % 2 else None, "updated_at": at or times[0]}
        for i, at in enumerate(times)
    ]  # fmt: skip


def _stored(conn: Any) -> list[tuple[Any, ...]]:
    return list(conn.exec_driver_sql("SELECT * FROM contacts ORDER BY id").fetchall())


def test_contacts_inserted_column_wise_are_stored_as_sqlalchemy_stores_them(sqlite_db: Database) -> None:
    t0 = datetime(2026, 3, 1, 12, 30, 5, 120, tzinfo=UTC)
    berlin = ZoneInfo("Europe/Berlin")
    times = [
        t0,
        t0,
        t0.astimezone(berlin),
        t0.replace(tzinfo=None) + timedelta(days=1),
        None,
        t0 + timedelta(microseconds=1),
    ]
    rows = _contact_rows(times)
    with sqlite_db.transaction() as conn:
        ids = insert_contacts(conn, [dict(r) for r in rows])
        fast = _stored(conn)
        conn.execute(text("DELETE FROM contacts"))
        conn.execute(contacts.insert(), [{**r, "id": i} for r, i in zip(rows, ids, strict=True)])
        reference = _stored(conn)
    assert ids == list(range(1, len(rows) + 1))
    assert fast == reference
    assert fast[2][contacts.c.keys().index("created_at")] == "2026-03-01 12:30:05.000120"  # Berlin time, UTC text
