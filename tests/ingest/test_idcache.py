"""The plain lane's identifier -> contact id cache (``idcache``): an import with it stores exactly what one without it
stores (every table, the summary) over files with repeated people, cookies, new contacts and identifications that
merge; it is used (hits, no clears) across plain chunks; and it never hands out an id the store no longer agrees
with — another connection or process changing contacts between chunks (an email renamed, a cookie's contact
merged), another pooled connection, a chunk rolled back after the cache learned from it."""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import identify, page
from sqlalchemy import insert, select, update

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.ingest import idcache, import_file, ingest_events
from funnelbridge.ingest.bulkevents import Guess, prepare_event_columns, write_event_columns
from funnelbridge.ingest.columnar import ColumnConverter
from funnelbridge.ingest.columns import detect_mapping
from funnelbridge.ingest.context import ImportContext
from funnelbridge.ingest.deadletter import DeadLetterWriter
from funnelbridge.ingest.foresight import Foresight
from funnelbridge.ingest.idcache import IdCache, IdNumbers
from funnelbridge.ingest.owed import Deferral, settle
from funnelbridge.ingest.summary import ImportSummary
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import contacts, events, identities, metadata

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HEADERS = ["event_id", "type", "email", "user_id", "anonymous_id", "timestamp", "utm_source"]


def _runtime(path: Path) -> Runtime:
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus(published=[]))
    ingest_events(rt, [  # stored before the import: a known person with a cookie, and an anonymous visitor
        identify("c0", "p0@acme.example", "2026-02-01T09:00:00Z"),
        page("c3", "2026-02-01T09:01:00Z"),
    ])  # fmt: skip
    return rt


def _write(path: Path, lines: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADERS)
        out.writerows(lines)
    return path


def _line(key: int, kind: str, who: int, minute: int) -> list[str]:
    email = f"p{who}@acme.example" if kind in ("email", "identify") else ""
    user = f"u{who}" if kind == "user" else ""
    anon = f"c{who if kind == 'anon' else (who + 1) % 5}" if kind in ("anon", "identify") else ""
    source = "ads" if minute % 3 == 0 else ""
    return [f"k{key}", "page_view", email, user, anon, f"2026-02-01T10:{minute:02d}:00Z", source]


def _tables(path: Path) -> dict[str, list[Any]]:
    """Every table of the store, every column, in key order."""
    db = connect(f"sqlite:///{path}")
    try:
        with db.read() as conn:
            return {t.name: conn.execute(select(t).order_by(*t.primary_key.columns or t.columns)).all()
                    for t in metadata.sorted_tables}  # fmt: skip
    finally:
        db.dispose()


def _import(tmp: Path, label: str, lines: list[list[str]], chunk: int, **options: Any) -> tuple[Any, ...]:
    rt = _runtime(tmp / f"{label}.db")
    options.setdefault("workers", 1)
    try:
        summary = import_file(rt, "events", _write(tmp / f"{label}.csv", lines), chunk_size=chunk,
                              rejects=tmp / f"{label}.rejected.csv", **options)  # fmt: skip
    finally:
        rt.db.dispose()
    counts = (summary.read, summary.inserted, summary.duplicates, summary.contacts_created, summary.merged)
    return counts, _tables(tmp / f"{label}.db")


_row = st.tuples(
    st.integers(0, 60),  # event id (repeats across chunks: duplicates)
    st.sampled_from(["email", "email", "user", "anon", "anon", "identify"]),  # identify: cookie + email (merges)
    st.integers(0, 3),  # which person / cookie: repeated across chunks
    st.integers(0, 59),  # minute
)


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_row, min_size=1, max_size=40), st.integers(1, 5), st.booleans(), st.sampled_from([1, 1, 2]))
def test_an_import_with_the_cache_stores_what_one_without_it_stores(
    raw: list[tuple[int, str, int, int]], chunk: int, defer: bool, workers: int
) -> None:
    """With ``workers=2`` the parsing process numbers the identifiers (the cache's array); without, by identifier."""
    lines = [_line(*r) for r in raw]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        cached = _import(tmp, "cached", lines, chunk, defer=defer, after=defer, workers=workers)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(idcache, "MAX_IDS", 0)  # cleared at every chunk: each chunk looks everything up
            uncached = _import(tmp, "uncached", lines, chunk, defer=defer, after=defer)
    assert cached == uncached


def _chunks(rt: Runtime, chunks: list[list[list[str]]], ctx: ImportContext, numbering: bool = False) -> None:
    """Store the chunks as an import does; with ``numbering``, their plans numbered as the parsing process does."""
    converter = ColumnConverter(detect_mapping("events", HEADERS, None), HEADERS, ZoneInfo("UTC"))
    guess, foresight = Guess(), Foresight()
    for table in chunks:
        chunk = prepare_event_columns(converter.convert(list(enumerate(table, 2))))
        if numbering:
            foresight.annotate(chunk)
        with rt.db.transaction() as conn:
            write_event_columns(ctx, conn, chunk, guess=guess, deferral=Deferral(NOW))
    with rt.db.transaction() as conn:
        settle(conn, NOW, ctx.fold)


def _context(tmp: Path, rt: Runtime) -> tuple[ImportContext, DeadLetterWriter]:
    dead = DeadLetterWriter(tmp / "dead.csv", HEADERS)
    summary = ImportSummary(kind="events", path=tmp / "x.csv", source_format="generic")
    return ImportContext(rt, NOW, ZoneInfo("UTC"), summary, dead, False), dead


@pytest.mark.parametrize("numbering", [False, True])
def test_plain_chunks_find_the_people_earlier_chunks_looked_up_or_created(tmp_path: Path, numbering: bool) -> None:
    rt = _runtime(tmp_path / "s.db")
    ctx, dead = _context(tmp_path, rt)
    chunks = [[_line(3 * n + i, kind, i, n) for i, kind in enumerate(["email", "anon", "user"])] for n in range(4)]
    with dead:
        _chunks(rt, chunks, ctx, numbering)
    rt.db.dispose()
    assert ctx.ids.clears == 0
    assert len(ctx.ids) == 3
    assert (len(ctx.ids.by_number) > 0) == numbering  # numbered plans go by number, the others by identifier
    assert ctx.ids.hits == 9  # chunks 2-4: p0 (stored), c1 (created by chunk 1), u2 (created)
    assert ctx.summary.contacts_created == 2


@pytest.mark.parametrize("numbering", [False, True])
def test_an_identification_on_the_import_s_own_connection_clears_it(tmp_path: Path, numbering: bool) -> None:
    rt = _runtime(tmp_path / "s.db")
    ctx, dead = _context(tmp_path, rt)
    chunks = [[_line(0, "anon", 3, 0), _line(1, "email", 2, 1)], [_line(2, "identify", 2, 2)],
              [_line(3, "anon", 3, 3), _line(4, "email", 2, 4)]]  # fmt: skip
    with dead:
        _chunks(rt, chunks, ctx, numbering)  # chunk 2 (event intake) merges c3's stored visitor and p2, both cached
    assert ctx.ids.clears == 1 and ctx.summary.merged == 1
    _assert_resolved(tmp_path / "s.db")
    rt.db.dispose()


def _assert_resolved(path: Path) -> None:
    """Every event is on the live contact its identifier names now."""
    conn = sqlite3.connect(path)
    try:
        wrong = conn.execute(
            "SELECT e.idempotency_key FROM events e JOIN contacts c ON c.id = e.contact_id WHERE c.merged_into IS NOT"
            " NULL OR (e.anonymous_id IS NOT NULL AND e.contact_id <> (SELECT contact_id FROM identities i WHERE"
            " i.anonymous_id = e.anonymous_id))"
        ).fetchall()
    finally:
        conn.close()
    assert wrong == []


def _between_chunks(
    path: Path, chunk: int, lines: list[list[str]], change: Callable[[int], None], workers: int = 1
) -> Runtime:
    rt = _runtime(path)
    done = [0]

    def progress(rows: int) -> None:
        done[0] += 1
        change(done[0])

    import_file(rt, "events", _write(path.with_suffix(".csv"), lines), progress=progress, chunk_size=chunk,
                workers=workers, defer=True)  # fmt: skip
    return rt


@pytest.mark.parametrize("workers", [1, 2])  # 2: the parsing process numbers the identifiers
def test_another_process_renaming_an_email_between_chunks_is_seen(tmp_path: Path, workers: int) -> None:
    path = tmp_path / "s.db"
    rename = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()"
    sql = "UPDATE contacts SET email = 'old-p1@acme.example' WHERE email = 'p1@acme.example'"

    def change(chunk: int) -> None:
        if chunk == 1:
            subprocess.run([sys.executable, "-c", rename, str(path), sql], check=True)

    lines = [_line(0, "email", 1, 0), _line(1, "email", 0, 1), _line(2, "email", 1, 2), _line(3, "email", 0, 3)]
    rt = _between_chunks(path, 2, lines, change, workers)
    with rt.db.read() as conn:
        by_key = dict(conn.execute(select(events.c.idempotency_key, events.c.contact_id)).all())
        by_email = dict(conn.execute(select(contacts.c.email, contacts.c.id)).all())
    rt.db.dispose()
    assert by_key["k0"] == by_email["old-p1@acme.example"]
    assert by_key["k2"] == by_email["p1@acme.example"] != by_key["k0"]  # a new contact, not the renamed one
    assert by_key["k1"] == by_key["k3"] == by_email["p0@acme.example"]


@pytest.mark.parametrize("workers", [1, 2])
def test_another_connection_merging_a_cookie_s_contact_between_chunks_is_seen(tmp_path: Path, workers: int) -> None:
    path = tmp_path / "s.db"
    other = Runtime(db=connect(f"sqlite:///{path}"), playbook=load_example("b2b"), clock=FrozenClock(NOW),
                    bus=EventBus(published=[]))  # fmt: skip

    def change(chunk: int) -> None:
        if chunk == 1:  # the visitor c1 (created by chunk 1) identifies as p0: merged into p0's contact
            assert ingest_events(other, [identify("c1", "p0@acme.example", "2026-02-01T10:30:00Z")]).merged == 1

    lines = [_line(0, "anon", 1, 0), _line(1, "email", 0, 1), _line(2, "anon", 1, 2), _line(3, "email", 0, 3)]
    rt = _between_chunks(path, 2, lines, change, workers)
    other.db.dispose()
    with rt.db.read() as conn:
        by_key = dict(conn.execute(select(events.c.idempotency_key, events.c.contact_id)).all())
        p0 = conn.execute(select(contacts.c.id).where(contacts.c.email == "p0@acme.example")).scalar_one()
    rt.db.dispose()
    assert by_key["k2"] == by_key["k3"] == p0  # not the merged-away visitor the cache had for c1
    _assert_resolved(path)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_chunk_rolled_back_leaves_no_ids_of_the_contacts_it_created(tmp_path: Path, workers: int) -> None:
    """The first chunk is stored on the guess that all its keys are new; one is stored already, so it is rolled
    back (after creating p7 and p8) and stored again the looked-up way, p8 getting the id p7 had."""
    path = tmp_path / "s.db"
    rt = _runtime(path)
    import_file(rt, "events", _write(tmp_path / "first.csv", [_line(0, "email", 0, 0)]), workers=1, defer=True)
    lines = [_line(0, "email", 7, 0), _line(1, "email", 8, 1), _line(2, "email", 8, 2)]
    summary = import_file(rt, "events", _write(tmp_path / "e.csv", lines), chunk_size=2, workers=workers, defer=True)
    with rt.db.read() as conn:
        by_key = dict(conn.execute(select(events.c.idempotency_key, events.c.contact_id)).all())
        by_email = dict(conn.execute(select(contacts.c.email, contacts.c.id)).all())
    rt.db.dispose()
    assert (summary.inserted, summary.duplicates, summary.contacts_created) == (2, 1, 1)  # k0 stored: p7 is not
    assert "p7@acme.example" not in by_email
    assert by_key["k1"] == by_key["k2"] == by_email["p8@acme.example"]


def test_a_check_clears_after_a_rollback_another_connection_or_a_write_on_this_one(tmp_path: Path) -> None:
    rt = _runtime(tmp_path / "s.db")
    cache = IdCache()

    def learn(conn: Any) -> None:
        cache.check(conn)
        cache.known["email"]["x@acme.example"] = 1
        cache.seal(conn)

    def kept(conn: Any) -> bool:
        cache.check(conn)
        return bool(cache.known["email"])

    with rt.db.transaction() as conn:
        learn(conn)
    with rt.db.transaction() as conn:
        assert kept(conn)  # nothing changed: still there
        cache.seal(conn)
    with pytest.raises(RuntimeError), rt.db.transaction() as conn:  # sealed, then rolled back: a contact gone
        learn(conn)
        conn.execute(insert(contacts).values(email="n@acme.example", created_at=NOW, updated_at=NOW))
        cache.seal(conn)
        raise RuntimeError
    with rt.db.transaction() as conn:
        assert not kept(conn)
        learn(conn)
    with rt.db.transaction() as conn:  # a write on this connection between seal and check
        conn.execute(update(identities).values(first_seen_at=NOW))
        assert not kept(conn)
        learn(conn)
    other = connect(f"sqlite:///{tmp_path / 's.db'}")
    with other.transaction() as conn:  # another DBAPI connection (as another pooled one would be)
        assert not kept(conn)
    other.dispose()
    assert cache.clears == 3
    rt.db.dispose()


def test_the_cache_is_cleared_past_its_limit(tmp_path: Path) -> None:
    rt = _runtime(tmp_path / "s.db")
    cache = IdCache(limit=1)
    with rt.db.transaction() as conn:
        cache.check(conn)
        cache.known["anon"].update({"a": 1, "b": 2})
        cache.seal(conn)
    with rt.db.transaction() as conn:
        cache.check(conn)
    assert len(cache) == 0 and cache.clears == 1
    rt.db.dispose()


def test_identifiers_are_numbered_at_first_sight_across_chunks() -> None:
    numbers = IdNumbers()
    assert list(numbers.of([("email", "a@x.example"), ("anon", "c1"), ("external", "c1")])) == [0, 1, 2]
    assert list(numbers.of([("anon", "c1"), ("email", "b@x.example"), ("email", "a@x.example")])) == [1, 3, 0]
    assert len(numbers) == 4


def test_numbers_learned_are_found_until_a_clear() -> None:
    cache = IdCache()
    assert cache.numbered(np.array([5, 0], np.int64)).tolist() == [-1, -1]  # grown, nothing known
    cache.learn(np.array([5], np.int64), np.array([42], np.int64))
    assert cache.numbered(np.array([0, 5, 5], np.int64)).tolist() == [-1, 42, 42]
    assert len(cache) == 1
    cache.clear()
    assert cache.numbered(np.array([5], np.int64)).tolist() == [-1] and len(cache) == 0 and cache.clears == 1
