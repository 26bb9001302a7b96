"""The plain lane of the events import (``bulkplain``: rows grouped where the chunk is parsed, the attribution
computed set-based from the stored events) stores exactly what the row-wise lane (``bulkevents._store_simple``:
per-contact observations, bounds seeded from the store) stores — every column of contacts, events, identities and
accounts, and the same counts — on random chunks with touch ties, repeated keys across chunks, and a cookie and an
email of one person in the same chunk. Settled chunk by chunk, ``version`` is the row-wise lane's too; deferred to
the end of the stretch (an import's way), each contact's ``version`` grows once per attribution group changed over
the stretch, and the queued contacts are the ones the chunks touched. Settled from the import's in-memory fold
(``ownfold``) instead of the scan, every table is exactly the scan's, ``version`` included."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
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
from funnelbridge.ingest.owed import Deferral, owed, settle
from funnelbridge.ingest.summary import ImportSummary
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import accounts, activity_queue, contacts, events, identities

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


_GROUPS = (("created_at",), ("identified_at",), ("first_touch_at", "first_source", "first_medium", "first_campaign"),
           ("last_touch_at", "last_source", "last_medium", "last_campaign"))  # fmt: skip


def _store(rt: Runtime, tmp: Path, chunks: list[list[list[str]]], lane: str) -> tuple[Any, ...]:
    """Store the chunks through the plain lane (settled per chunk, or ``deferred`` to the end) or the row-wise
    one; the counts, the contacts each chunk touched and the tables (deferred: the contacts before settling and
    the queued contacts too)."""
    mapping = detect_mapping("events", HEADERS, None)
    converter = ColumnConverter(mapping, HEADERS, ZoneInfo("UTC"))
    summary = ImportSummary(kind="events", path=tmp / "x.csv", source_format="generic")
    deferral = Deferral(NOW) if lane in ("deferred", "folded") else None
    with DeadLetterWriter(tmp / f"dead{lane}.csv", HEADERS) as dead:
        ctx = ImportContext(rt, NOW, ZoneInfo("UTC"), summary, dead, False)
        guess, touches = Guess(), []
        for table in chunks:
            chunk = prepare_event_columns(converter.convert(list(enumerate(table, start=2))))
            with rt.db.transaction() as conn:
                if lane != "row-wise":
                    touched = write_event_columns(ctx, conn, chunk, guess=guess, deferral=deferral)
                else:  # the row-wise lane: what write_event_columns did before the plain lane
                    fresh = _fresh(conn, chunk.rows)
                    summary.duplicates += chunk.repeats + len(chunk.rows) - len(fresh)
                    touched = _store_simple(ctx, conn, fresh) or set()
            touches.append(sorted(touched))
    before = rows(rt, contacts)
    with rt.db.transaction() as conn:
        assert bool(owed(conn)) == (deferral is not None and summary.inserted > 0)
        settle(conn, NOW, ctx.fold if lane == "folded" else None)
        assert owed(conn) == []
    assert ctx.fold.applied == (lane == "folded" and summary.inserted > 0)  # the fold, not the scan
    counts = (summary.inserted, summary.duplicates, summary.contacts_created, touches)
    return counts, before, *(rows(rt, t) for t in (contacts, events, identities, accounts, activity_queue))


def _changed(was: dict[str, Any], now: dict[str, Any]) -> int:
    return sum(any(was[name] != now[name] for name in group) for group in _GROUPS)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_row, min_size=1, max_size=12), min_size=1, max_size=4))
def test_the_plain_lane_stores_what_the_row_wise_lane_stores(chunks: list[list[Any]]) -> None:
    tables = [[_line(*r) for r in chunk] for chunk in chunks]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        runtimes = {lane: _runtime(tmp / f"{lane}.db") for lane in ("chunked", "deferred", "folded", "row-wise")}
        try:
            out = {lane: _store(rt, tmp, tables, lane) for lane, rt in runtimes.items()}
        finally:
            for rt in runtimes.values():
                rt.db.dispose()
    reference, chunked, deferred = out["row-wise"], out["chunked"], out["deferred"]
    assert out["folded"] == deferred  # settled from the fold: every table as the scan's settle, version included
    assert chunked[0] == reference[0] == deferred[0]  # counts and touched contacts
    assert chunked[2:6] == reference[2:6]  # contacts (version and updated_at included), events, identities, accounts
    assert deferred[3:6] == reference[3:6]
    assert [q["contact_id"] for q in deferred[6]] == sorted({cid for chunk in reference[0][3] for cid in chunk})
    assert {q["queued_at"] for q in deferred[6]} <= {NOW}
    before, after, expected = deferred[1], deferred[2], reference[2]
    assert len(before) == len(after) == len(expected)
    for was, now, want in zip(before, after, expected, strict=True):
        assert {**now, "version": 0} == {**want, "version": 0}  # updated_at included: now iff any group changed
        assert now["version"] == was["version"] + _changed(was, now)  # once per group changed over the stretch
        assert now["version"] <= want["version"]


def test_a_plan_groups_rows_by_identifier_in_order_of_first_appearance() -> None:
    columns: list[list[Any]] = [[] for _ in range(13)]
    columns[5], columns[6], columns[4] = ["a@x", None, "a@x", None], [None, None, None, "u1"], [None, "c1", None, None]
    plan = plan_plain(columns)
    assert plan.groups == [("email", "a@x"), ("anon", "c1"), ("external", "u1")]
    assert (plan.first, plan.index) == ([0, 1, 3], [0, 1, 0, 2])
