"""The column-wise events import: its converter agrees with the row converter value for value and reason for
reason; malformed event files never crash it and lose nothing; and a CSV import stores what event intake stores
for the same events (hypothesis)."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.ingest import detect_mapping, import_file, ingest_events
from funnelbridge.ingest.columnar import ColumnConverter
from funnelbridge.ingest.rows import RowConverter
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import contacts, events, identities

HEADERS = ["event_id", "type", "email", "anonymous_id", "timestamp", "path", "utm_source", "note"]
_ns = itertools.count()
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

_nasty = st.sampled_from(["", " ", " x ", "\x00", "\udcff", "é", "X" * 250, "a\tb", "\x1c", "\u00a0y"])
_texts = st.one_of(st.text(max_size=12), _nasty, st.sampled_from(["page_view", "track", "email", "Asset Download"]))
_emails = st.one_of(
    st.sampled_from(["a@b.co", "A@B.CO", " a@b.co", "x@y", "no-at", "ü@b.co", "a@b.co\n", "a@-b.co", ""]),
    st.emails().map(str),
    st.text(max_size=10),
)
_times = st.one_of(
    st.sampled_from(
        [
            "2026-01-02T10:00:00Z",
            "2026-01-02 10:00:00",
            "2026-01-02T10:00:00+02:00",
            "01/02/2026",
            "2026-13-01",
            "2026-03-29T02:30:00",
            "9999-12-31T23:59:59-05:00",
            "",
            "soon",
        ]
    ),
    st.datetimes(timezones=st.sampled_from([UTC, ZoneInfo("Europe/Berlin")])).map(datetime.isoformat),
)


@st.composite
def raw_row(draw: st.DrawFn) -> list[Any]:
    row = [draw(_texts), draw(_texts), draw(_emails), draw(_texts), draw(_times), draw(_texts), draw(_texts),
           draw(_texts)]  # fmt: skip
    width = draw(st.sampled_from([8] * 8 + [7, 9]))
    return [*row, "extra"][:width]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(raw_row(), max_size=8), st.sampled_from(["UTC", "Europe/Berlin"]))
def test_column_converter_agrees_with_row_converter(rows: list[list[Any]], zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    mapping = detect_mapping("events", HEADERS, None)
    by_rows, by_columns = RowConverter(mapping, HEADERS, zone), ColumnConverter(mapping, HEADERS, zone)
    chunk = list(enumerate(rows, start=2))
    converted = by_columns.convert(chunk)
    rejected = {n: problems for n, _, problems in converted.rejected}
    good = {n: {name: col[i] for name, col in converted.values.items()} for i, n in enumerate(converted.rows)}
    assert sorted([*rejected, *good]) == [n for n, _ in chunk]
    for number, raw in chunk:
        expected = by_rows.convert(raw)
        if expected.record is None:
            assert rejected[number] == expected.problems
        else:
            assert good[number] == expected.record


def _event_file(draw: st.DrawFn, ns: int) -> tuple[bytes, set[str], set[int]]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["event_id", "type", "email", "anonymous_id", "timestamp", "path"])
    good: set[str] = set()
    bad: set[int] = set()
    for row in range(2, 2 + draw(st.integers(1, 30))):
        key = f"n{ns}e{draw(st.integers(0, 12))}"  # repeated keys: duplicates in the file
        who = draw(st.sampled_from([(f"p{ns}x{row % 4}@acme.example", ""), ("", f"v{ns}x{row % 3}")]))
        at = f"2026-01-{draw(st.integers(1, 28)):02d}T10:{row % 60:02d}:00{draw(st.sampled_from(['', 'Z', '+02:00']))}"
        fault = draw(st.sampled_from([None] * 4 + ["time", "email", "type", "nobody", "width", "long"]))
        values = [key, "page_view", *who, at, "/"]
        if fault == "time":
            values[4] = "2026-02-30T10:00:00"
        elif fault == "email":
            values[2] = "not-an-address"
        elif fault == "type":
            values[1] = "Page View!"
        elif fault == "nobody":
            values[2:4] = ["", ""]
        elif fault == "width":
            values = values[:4]
        elif fault == "long":
            values[5] = "/" * 1001
        if fault is None:
            good.add(key)
        else:
            bad.add(row)
        writer.writerow(values)
    return out.getvalue().encode(), good, bad


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_malformed_event_rows(sqlite_rt: Runtime, tmp_path: Path, data: st.DataObject) -> None:
    ns = next(_ns)
    content, good, bad = _event_file(data.draw, ns)
    path = tmp_path / f"events{ns}.csv"
    path.write_bytes(content)
    summary = import_file(sqlite_rt, "events", path, after=False, chunk_size=data.draw(st.sampled_from([3, 50_000])))
    assert {r.row for r in summary.rejections} == bad
    with sqlite_rt.db.read() as conn:
        stored = set(
            conn.execute(select(events.c.idempotency_key).where(events.c.idempotency_key.like(f"n{ns}e%"))).scalars()
        )
    assert stored == good
    assert summary.inserted == len(good) and summary.read == summary.inserted + summary.duplicates + summary.rejected
    again = import_file(sqlite_rt, "events", path, after=False)
    assert (again.inserted, again.duplicates) == (0, summary.inserted + summary.duplicates)


def _payload(key: str, email: str, anon: str, kind: str, at: str, source: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": "track", "event": kind, "timestamp": at, "idempotency_key": key}
    if kind == "identify":
        payload = {"type": "identify", "timestamp": at, "idempotency_key": key}
    payload |= {k: v for k, v in (("email", email), ("anonymous_id", anon)) if v}
    if source:
        payload["properties"] = {"utm_source": source}
    return payload


def _state(rt: Runtime) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with rt.db.read() as conn:
        who = {r.id: (r.email, r.merged_into is not None) for r in conn.execute(select(contacts))}
        people = sorted(
            ((r.email, r.merged_into is not None, r.created_at, r.identified_at, r.first_source, r.first_touch_at,
              r.last_source, r.last_touch_at, r.unsubscribed) for r in conn.execute(select(contacts))),
            key=repr,  # emails may be None
        )  # fmt: skip
        stored = conn.execute(select(events))
        evts = sorted(((r.idempotency_key, r.type, r.occurred_at, who[r.contact_id]) for r in stored), key=repr)
        links = sorted(((r.anonymous_id, who[r.contact_id]) for r in conn.execute(select(identities))), key=repr)
    return people, evts, links


_rows = st.lists(
    st.tuples(
        st.sampled_from(["", "ann@acme.example", "bob@acme.example"]),
        st.sampled_from(["", "c1", "c2"]),
        st.sampled_from(["page_view", "asset_download", "identify", "email_unsubscribe"]),
        st.integers(0, 50),
        st.sampled_from(["", "google"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_rows)
def test_csv_import_stores_what_event_intake_stores(
    rows: list[tuple[str, str, str, int, str]], tmp_path_factory: Any
) -> None:
    base = tmp_path_factory.mktemp("same")
    valid = [(f"k{i}", *r) for i, r in enumerate(rows) if (r[0] or r[1]) and (r[2] != "identify" or r[0])]
    lines = ["event_id,type,email,anonymous_id,timestamp,utm_source"]
    payloads = []
    for key, email, anon, kind, minute, source in valid:
        at = f"2026-01-05T09:{minute:02d}:00Z"
        lines.append(f"{key},{kind},{email},{anon},{at},{source}")
        payloads.append(_payload(key, email, anon, kind, at, source))
    (base / "e.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    states = []
    for name in ("csv", "intake"):
        db = connect(f"sqlite:///{base / name}.db")
        upgrade(db)
        rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW))
        if name == "csv":
            assert import_file(rt, "events", base / "e.csv", after=False).rejected == 0
        else:
            assert ingest_events(rt, payloads, after=False).rejected == 0
        states.append(_state(rt))
        db.dispose()
    assert states[0] == states[1]


def test_parquet_events_take_the_exact_lane_for_typed_values(rt: Runtime, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    at = [datetime(2026, 1, 5, 9, 0, tzinfo=UTC), datetime(2026, 1, 5, 10, 0, tzinfo=UTC), None]
    table = pa.table({"event_id": ["q1", "q2", "q3"], "type": ["page_view", "Asset Download", "page_view"],
                      "email": ["Ann@Acme.example", None, "bob@acme.example"], "anonymous_id": [None, "v9", None],
                      "timestamp": pa.array(at, pa.timestamp("us", tz="UTC")), "score": [1, None, 3]})  # fmt: skip
    pq.write_table(table, tmp_path / "events.parquet")
    summary = import_file(rt, "events", tmp_path / "events.parquet", after=False)
    assert (summary.inserted, summary.rejected) == (2, 1)
    assert [(r.row, r.problems[0].field) for r in summary.rejections] == [(4, "occurred_at")]
    with rt.db.read() as conn:
        stored = {r.idempotency_key: r for r in conn.execute(select(events))}
        ann = conn.execute(select(contacts.c.id).where(contacts.c.email == "ann@acme.example")).scalar_one()
    first, second = stored["q1"], stored["q2"]
    assert (first.contact_id, first.properties, second.type) == (ann, {"score": 1}, "asset_download")
