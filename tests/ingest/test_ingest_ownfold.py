"""The import's in-memory fold of what its plain chunks owe (``ownfold``) settles exactly as the ``GROUP BY`` scan
does — and only when it can prove it saw every owed event: with event intake storing events beside the import, a
merge made meanwhile or an older owed stretch (a killed run's) the settle scans instead, and every table ends the
same either way."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ingest_helpers import identify, page, rows
from sqlalchemy import insert

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.ingest import ingest_events
from funnelbridge.ingest.bulkevents import Guess, prepare_event_columns, write_event_columns
from funnelbridge.ingest.columnar import ColumnConverter
from funnelbridge.ingest.columns import detect_mapping
from funnelbridge.ingest.context import ImportContext
from funnelbridge.ingest.deadletter import DeadLetterWriter
from funnelbridge.ingest.foresight import Foresight
from funnelbridge.ingest.identity import merge
from funnelbridge.ingest.owed import Deferral, owed, settle
from funnelbridge.ingest.ownfold import _NO_TAIL, _NONE_AT, OwnFold, _texts, _texts_of, parse_times
from funnelbridge.ingest.summary import ImportSummary
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import activity_queue, contacts, events, identities, ingest_owed, merges

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HEADERS = ["event_id", "type", "email", "anonymous_id", "timestamp", "utm_source", "utm_medium", "utm_campaign"]
Between = Callable[[Runtime, int], None]


def test_times_are_read_only_in_the_settles_text_form_and_written_back_the_same() -> None:
    texts = ["2026-02-01 10:00:00.000000", "1999-12-31 23:59:59.999999", "0001-01-01 00:00:00.000001"]
    values = parse_times(texts)
    assert values is not None and _texts(values) == texts
    assert list(np.argsort(values)) == sorted(range(3), key=texts.__getitem__)  # the texts' order
    assert parse_times([]) is not None
    bad_ones = [
        "2026-02-01T10:00:00.000000",
        "2026-02-01 10:00:00.00000",
        "2026-02-30 10:00:00.000000",
        "2026-02-01 10:00:00.00000\u00e9",
        "2026-02-01 10:00:00.000000+00:00",
        "2026-02-01 1a:00:00.000000",
    ]
    for bad in bad_ones:
        assert parse_times([texts[0], bad]) is None, bad


@given(st.lists(st.lists(st.sampled_from([_NONE_AT, _NO_TAIL, 0, -1]) | st.integers(-(10**16), 10**17), max_size=6),
                min_size=1, max_size=4))  # fmt: skip
def test_times_formatted_once_each_are_the_texts_of_each_array(arrays: list[list[int]]) -> None:
    width = max(map(len, arrays))
    given_ = [np.array((a + [0] * width)[:width], np.int64) for a in arrays]  # np.split wants equal parts
    expected = [[None if v in (_NONE_AT, _NO_TAIL) else t for v, t in zip(a.tolist(), _texts(a), strict=True)]
                for a in given_]  # fmt: skip
    assert _texts_of(given_) == expected


def _runtime(path: Path) -> Runtime:
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus(published=[]))
    ingest_events(rt, [identify("c0", "p0@acme.example", "2026-02-01T10:03:00Z"),
                       page("c1", "2026-02-01T10:02:00Z", utm_source="ads")])  # fmt: skip
    return rt


def _chunks(source: str = "ads") -> list[list[list[str]]]:
    def line(n: int, who: str, minute: int, touch: tuple[str, str, str]) -> list[str]:
        email, anon = (who, "") if "@" in who else ("", who)
        return [f"k{n}", "page_view", email, anon, f"2026-02-01T10:{minute:02d}:00Z", *touch]

    people = ["p0@acme.example", "p1@acme.example", "c0", "c1", "c2"]
    touches = [("", "", ""), (source, "", ""), ("google", "cpc", ""), ("ads", "", "q2")]
    return [[line(100 * c + i, people[(i * 3 + c) % 5], (i * 7 + c) % 6, touches[(i + c) % 4]) for i in range(9)]
            for c in range(3)]  # fmt: skip


def _import(
    rt: Runtime, tmp: Path, tables: list[list[list[str]]], fold: bool, between: Between | None, foresight: bool = False
) -> int:
    """Store the chunks as a deferred import does, ``between`` run after each chunk but the last; settle with the
    fold or without it; returns how many stretches the fold settled. With ``foresight`` the chunks are annotated
    as the parsing process does (touch triples coded)."""
    ahead = Foresight()
    converter = ColumnConverter(detect_mapping("events", HEADERS, None), HEADERS, ZoneInfo("UTC"))
    summary = ImportSummary(kind="events", path=tmp / "x.csv", source_format="generic")
    with DeadLetterWriter(tmp / f"dead{fold}.csv", HEADERS) as dead:
        ctx = ImportContext(rt, NOW, ZoneInfo("UTC"), summary, dead, False)
        guess = Guess()
        for number, table in enumerate(tables):
            chunk = prepare_event_columns(converter.convert(list(enumerate(table, start=2))))
            assert chunk.plan is not None  # the plain lane
            if foresight:
                ahead.annotate(chunk)
            with rt.db.transaction() as conn:
                write_event_columns(ctx, conn, chunk, guess=guess, deferral=Deferral(NOW))
            if between is not None and number < len(tables) - 1:
                between(rt, number)
    with rt.db.transaction() as conn:
        settle(conn, NOW, ctx.fold if fold else None)
        assert owed(conn) == []
    return ctx.fold.applied


def _both(
    tables: list[list[list[str]]],
    between: Between | None = None,
    before: Between | None = None,
    foresight: bool = False,
) -> int:
    """The fold's settle and the scan's on two equal stores: every table equal; how often the fold settled."""
    with tempfile.TemporaryDirectory() as name:
        tmp, out = Path(name), {}
        for fold in (True, False):
            rt = _runtime(tmp / f"{fold}.db")
            try:
                if before is not None:
                    before(rt, 0)
                applied = _import(rt, tmp, tables, fold, between, foresight)
                out[fold] = applied, [rows(rt, t) for t in (contacts, events, identities, activity_queue, merges)]
            finally:
                rt.db.dispose()
    assert out[True][1] == out[False][1]
    assert out[False][0] == 0
    return out[True][0]


@pytest.mark.parametrize("foresight", [False, True], ids=["triples-here", "triples-coded-by-the-parsing-process"])
def test_alone_the_import_settles_from_its_fold(foresight: bool) -> None:
    assert _both(_chunks(), foresight=foresight) == 1


def _intake(rt: Runtime, number: int) -> None:
    ingest_events(rt, [page("c2", f"2026-02-01T09:0{number}:00Z", utm_source="early")])


def _merge(rt: Runtime, number: int) -> None:
    with rt.db.read() as conn:
        ids = {r.email: r.id for r in conn.execute(contacts.select()) if r.email}
    merge(rt, ids["p0@acme.example"], ids["p1@acme.example"])


def _killed_run(rt: Runtime, number: int) -> None:
    with rt.db.transaction() as conn:
        conn.execute(insert(ingest_owed).values(from_event_id=1, queued_at=NOW))


@pytest.mark.parametrize("between", [_intake, _merge], ids=["event intake beside", "a merge meanwhile"])
def test_what_others_did_during_the_stretch_makes_the_settle_scan(between: Between) -> None:
    assert _both(_chunks(), between=between) == 0


def test_an_older_owed_stretch_makes_the_settle_scan() -> None:
    assert _both(_chunks(), before=_killed_run) == 0


def test_a_touch_holding_char_0_is_not_folded() -> None:
    """It sorts below the scan's separator (the converter drops it from CSV values; other callers may not)."""
    fold = OwnFold()
    assert fold._codes[("a", None, "q")] == 0 and fold.valid
    assert fold._codes[("a\x00b", None, None)] == 1 and not fold.valid


@pytest.mark.parametrize("fold", [True, False], ids=["fold", "scan"])
def test_a_source_holding_char_1_is_ranked_by_its_parts(tmp_path: Path, fold: bool) -> None:
    """The scan's touch key cannot be split back then (the scan reads that contact's touches apart; before, its
    settle failed and left the stretch owed); both rank the parts as the row-wise lane's touch keys do:
    ("a", "z", "") before ("a\x01b", "", "")."""
    line = ["page_view", "p0@acme.example", "", "2026-02-01T10:00:00Z"]
    rt = _runtime(tmp_path / "store.db")
    try:
        tables = [[["k1", *line, "a", "z", ""], ["k2", *line, "a\x01b", "", ""]]]
        assert _import(rt, tmp_path, tables, fold, None) == int(fold)
        with rt.db.transaction() as conn:
            assert owed(conn) == []
        person = next(c for c in rows(rt, contacts) if c["email"] == "p0@acme.example")
        assert (person["first_source"], person["first_medium"]) == ("a", "z")  # "a" < "a\x01b"
        assert (person["last_source"], person["last_medium"]) == ("a\x01b", None)
    finally:
        rt.db.dispose()


def test_sources_are_ranked_as_the_settles_text_compares_them() -> None:
    """Same minute, touches differing only in the parts: the least and greatest key text win, "" as None."""
    touches = [("ab", "", ""), ("a", "z", ""), ("a", "", "z"), ("b", "", ""), ("a\u00e9", "", ""), ("a", "", "")]
    tables = [[[f"k{i}{j}", "page_view", "p0@acme.example", "", "2026-02-01T10:00:00Z", *t]
               for i, t in enumerate(touches)] for j in range(2)]  # fmt: skip
    for foresight in (False, True):
        assert _both(tables, foresight=foresight) == 1
        assert _both([list(reversed(t)) for t in tables], foresight=foresight) == 1
