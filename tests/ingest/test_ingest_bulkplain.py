"""The plain lane of the events import (``bulkplain``: rows grouped and attribution folded where the chunk is
parsed, the attribution UPDATE run without bounds) stores exactly what the row-wise lane (``bulkevents
._store_simple``: per-contact observations, bounds seeded from the store) stores — every column of contacts
(``version`` and ``updated_at`` included), events, identities and accounts, and the same counts — on random chunks
with touch ties, repeated keys across chunks, and a cookie and an email of one person in the same chunk."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import identify, page, rows

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.ingest import ingest_events
from funnelbridge.ingest.bulkevents import Guess, _fresh, _store_simple, prepare_event_columns, write_event_columns
from funnelbridge.ingest.bulkplain import plan_plain
from funnelbridge.ingest.columnar import ColumnConverter
from funnelbridge.ingest.columns import detect_mapping
from funnelbridge.ingest.context import ImportContext
from funnelbridge.ingest.deadletter import DeadLetterWriter
from funnelbridge.ingest.summary import ImportSummary
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import accounts, contacts, events, identities

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HEADERS = ["event_id", "type", "email", "user_id", "anonymous_id", "timestamp", "utm_source", "utm_medium",
           "utm_campaign"]  # fmt: skip
_TOUCHES = [("", "", ""), ("", "", ""), ("google", "cpc", ""), ("ads", "", ""), ("ads", "", "q2"), ("", "mail", "")]

_row = st.tuples(
    st.integers(0, 40),  # event id (repeats across chunks)
    st.sampled_from(["email", "user", "anon"]),
    st.integers(0, 4),  # which person / cookie
    st.integers(0, 5),  # minute: ties
    st.sampled_from(_TOUCHES),
)


def _line(key: int, kind: str, who: int, minute: int, touch: tuple[str, str, str]) -> list[str]:
    email = f"p{who}@acme.example" if kind == "email" else ""
    user = f"u{who}" if kind == "user" else ""
    anon = f"c{who}" if kind == "anon" else ""
    return [f"k{key}", "page_view", email, user, anon, f"2026-02-01T10:{minute:02d}:00Z", *touch]


def _runtime(path: Path) -> Runtime:
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus(published=[]))
    ingest_events(rt, [  # known people with stored attribution, cookies c0 / c1 linked to p0 / p1
        identify("c0", "p0@acme.example", "2026-02-01T10:03:00Z"),
        identify("c1", "p1@acme.example", "2026-01-05T08:00:00Z"),
        page("c1", "2026-02-01T10:02:00Z", utm_source="ads", utm_campaign="q2"),
        page("c3", "2026-02-01T10:04:00Z", utm_source="google", utm_medium="cpc"),
    ])  # fmt: skip
    return rt


def _store(rt: Runtime, tmp: Path, chunks: list[list[list[str]]], plain: bool) -> tuple[Any, ...]:
    mapping = detect_mapping("events", HEADERS, None)
    converter = ColumnConverter(mapping, HEADERS, ZoneInfo("UTC"))
    summary = ImportSummary(kind="events", path=tmp / "x.csv", source_format="generic")
    with DeadLetterWriter(tmp / f"dead{plain}.csv", HEADERS) as dead:
        ctx = ImportContext(rt, NOW, ZoneInfo("UTC"), summary, dead, False)
        guess, touches = Guess(), []
        for table in chunks:
            chunk = prepare_event_columns(converter.convert(list(enumerate(table, start=2))))
            with rt.db.transaction() as conn:
                if plain:
                    touched = write_event_columns(ctx, conn, chunk, guess=guess)
                else:  # the row-wise lane: what write_event_columns did before the plain lane
                    fresh = _fresh(conn, chunk.rows)
                    summary.duplicates += chunk.repeats + len(chunk.rows) - len(fresh)
                    touched = _store_simple(ctx, conn, fresh) or set()
            touches.append(sorted(touched))
    counts = (summary.inserted, summary.duplicates, summary.contacts_created, touches)
    return counts, *(rows(rt, t) for t in (contacts, events, identities, accounts))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_row, min_size=1, max_size=12), min_size=1, max_size=4))
def test_the_plain_lane_stores_what_the_row_wise_lane_stores(chunks: list[list[Any]]) -> None:
    tables = [[_line(*r) for r in chunk] for chunk in chunks]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        plain, reference = _runtime(tmp / "plain.db"), _runtime(tmp / "reference.db")
        try:
            assert _store(plain, tmp, tables, True) == _store(reference, tmp, tables, False)
        finally:
            plain.db.dispose()
            reference.db.dispose()


def test_a_plan_groups_rows_by_identifier_in_order_of_first_appearance() -> None:
    at = ["2026-02-01 10:00:00.000000"] * 4
    columns: list[list[Any]] = [[] for _ in range(13)]
    columns[5], columns[6], columns[4] = ["a@x", None, "a@x", None], [None, None, None, "u1"], [None, "c1", None, None]
    columns[12], columns[8], columns[9], columns[10] = at, ["s", None, "r", None], [None] * 4, [None] * 4
    plan = plan_plain(columns)
    assert plan.groups == [("email", "a@x"), ("anon", "c1"), ("external", "u1")]
    assert (plan.first, plan.index) == ([0, 1, 3], [0, 1, 0, 2])
    mark, first_row, last_row = plan.marks[0]
    assert mark == (at[0], at[0], at[0], "r", None, None, at[0], "s", None, None)  # least / greatest key
    assert (first_row, last_row) == (2, 0)
    assert plan.marks[1][0][1] is None  # a cookie does not identify
