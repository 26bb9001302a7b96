"""A first bulk events load into an empty table drops the key's unique index and builds it at the end
(:mod:`funnelbridge.ingest.firstkeys`): rows whose key repeats one stored earlier in the load are held back and
stored after the index is built, so the store equals a row-wise (looked-up) import's exactly — repeated derived
keys, a given key repeated with other content (the first row in the file wins), hash collisions — with the same
summary; other writers cannot insert meanwhile; an open or the next import builds a missing index first."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ingest_helpers import accounts, identities, rows
from sqlalchemy import event as sa_event
from sqlalchemy import inspect

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.errors import StoreError
from funnelbridge.ingest import firstkeys, import_file
from funnelbridge.ingest.firstkeys import SeenHashes
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect
from funnelbridge.store.bulkload import defer_unique
from funnelbridge.store.events import insert_events
from funnelbridge.store.migrate import require_current, upgrade
from funnelbridge.store.tables import contacts, events

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
UNIQUE = "uq_events_idempotency_key"


def _file(path: Path, n: int, *, given_keys: bool) -> Path:
    """Events whose rows repeat across chunks: every 7th row is an exact copy of the row 250 before (a derived
    key repeated); with ``given_keys`` every 11th row reuses the key of the row 400 before with other content."""
    lines = []
    for i in range(n):
        j = i - 250 if i % 7 == 0 and i >= 250 else i
        email = f"p{j % 97}@c{j % 13}.example" if j % 5 else ""
        at = f"2026-02-0{1 + j % 9}T{j % 24:02d}:{j % 60:02d}:00Z"
        line = ["page_view", email, "" if email else f"v{j % 41}", at, f"/p{j % 3}", "ads" if j % 3 == 0 else ""]
        key = f"k{i - 400 if i % 11 == 0 and i >= 400 else i}"
        lines.append([*line, key] if given_keys else line)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["type", "email", "anonymous_id", "timestamp", "path", "utm_source"]
                     + (["idempotency_key"] if given_keys else []))  # fmt: skip
        out.writerows(lines)
    return path


def _runtime(path: Path) -> Runtime:
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    return Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus(published=[]))


def _import(rt: Runtime, path: Path, bulk: bool, workers: int | None = None) -> tuple[int, int, int, int]:
    s = import_file(rt, "events", path, chunk_size=300, defer=True, bulk=bulk, workers=workers)
    return s.read, s.inserted, s.duplicates, s.contacts_created


def _indexes(rt: Runtime) -> list[tuple[str, bool]]:
    with rt.db.read() as conn:
        return sorted((str(ix["name"]), bool(ix["unique"])) for ix in inspect(conn).get_indexes("events"))


def _state(rt: Runtime) -> dict[str, Any]:
    tables = {t.name: rows(rt, t) for t in (accounts, contacts, identities, events)}
    return {"indexes": _indexes(rt), **tables}


def _content(rt: Runtime) -> dict[str, Any]:
    """The stored events and contacts without what the order of writing decides (ids, versions): a row held back
    because its hash collided is inserted after the load, and its contact may be created or updated later."""
    anon: dict[int, str] = {}
    for r in rows(rt, identities):
        anon.setdefault(r["contact_id"], r["anonymous_id"])
    who = {c["id"]: c["email"] or anon[c["id"]] for c in rows(rt, contacts)}
    people = {who[c["id"]]: {k: v for k, v in c.items() if k not in _ORDERED} for c in rows(rt, contacts)}
    stored = sorted(({**{k: v for k, v in r.items() if k != "id"}, "contact_id": who[r["contact_id"]]}
                     for r in rows(rt, events)), key=repr)  # fmt: skip
    return {"indexes": _indexes(rt), "events": stored, "contacts": people}


_ORDERED = ("id", "account_id", "version", "updated_at")


def _inserts(rt: Runtime) -> list[str]:
    seen: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO EVENTS"):
            seen.append(statement.rsplit(")", 1)[1].strip())

    sa_event.listen(rt.db.engine, "before_cursor_execute", spy)
    return seen


@pytest.mark.parametrize("workers", [1, 2], ids=["checked-here", "checked-by-the-parsing-process"])
@pytest.mark.parametrize("given_keys", [False, True], ids=["derived-keys", "given-keys"])
def test_first_bulk_load_with_repeated_keys_equals_a_looked_up_import(
    tmp_path: Path, given_keys: bool, workers: int
) -> None:
    path = _file(tmp_path / "events.csv", 2400, given_keys=given_keys)
    normal, bulk = _runtime(tmp_path / "normal.db"), _runtime(tmp_path / "bulk.db")
    try:
        inserts = _inserts(bulk)
        expected = _import(normal, path, False)
        assert expected[2] > 150  # the file repeats keys across chunks
        assert _import(bulk, path, True, workers) == expected
        assert any(i.endswith("ON CONFLICT DO NOTHING") for i in inserts)  # the load ran without the unique index
        assert (UNIQUE, True) in _indexes(bulk)
        assert _state(bulk) == _state(normal)
        assert _import(bulk, path, True)[1:3] == (0, 2400)  # a re-run (index kept: the table holds rows)
        assert _state(bulk) == _state(normal)
    finally:
        normal.db.dispose()
        bulk.db.dispose()


def test_hash_collisions_are_inserted_after_the_index_is_built(tmp_path: Path, monkeypatch: Any) -> None:
    """With a hash of 5 values nearly every row is held back as a possible repeat: the store still holds what a
    looked-up import stores (later ids for the rows that only collided)."""
    monkeypatch.setattr(firstkeys, "HASHER", lambda key: len(key) % 5)
    path = _file(tmp_path / "events.csv", 1500, given_keys=True)
    normal, bulk = _runtime(tmp_path / "normal.db"), _runtime(tmp_path / "bulk.db")
    try:
        assert _import(bulk, path, True) == _import(normal, path, False)
        assert _content(bulk) == _content(normal)
    finally:
        normal.db.dispose()
        bulk.db.dispose()


def test_a_store_with_events_keeps_its_unique_index(tmp_path: Path) -> None:
    path = _file(tmp_path / "events.csv", 600, given_keys=False)
    rt = _runtime(tmp_path / "store.db")
    try:
        _import(rt, _file(tmp_path / "few.csv", 5, given_keys=False), False)
        inserts = _inserts(rt)
        _import(rt, path, True)
        assert inserts and "ON CONFLICT DO NOTHING" not in inserts
    finally:
        rt.db.dispose()


def test_meanwhile_other_writers_fail_and_an_open_builds_the_index_first(tmp_path: Path) -> None:
    """What a first load killed halfway leaves: no unique index. Another writer's insert names the index and
    fails (no duplicate can slip in); opening the store builds the index before anything else."""
    rt = _runtime(tmp_path / "store.db")
    row = {"idempotency_key": "k1", "contact_id": None, "anonymous_id": "a", "type": "page_view", "occurred_at": NOW,
           "received_at": NOW, "path": None, "campaign": None, "source": None, "medium": None,
           "properties": None}  # fmt: skip
    try:
        with rt.db.transaction() as conn:
            assert defer_unique(conn, events)
        assert (UNIQUE, True) not in _indexes(rt)
        with pytest.raises(StoreError), rt.db.transaction() as conn:
            insert_events(conn, [row])
        require_current(rt.db)  # what opening the store runs
        assert (UNIQUE, True) in _indexes(rt)
        with rt.db.transaction() as conn:
            assert insert_events(conn, [row, row]) == 1
            assert not defer_unique(conn, events)  # the table holds rows: nothing dropped
        assert (UNIQUE, True) in _indexes(rt)
    finally:
        rt.db.dispose()


def test_the_next_import_builds_a_missing_unique_index_before_inserting(tmp_path: Path) -> None:
    path = _file(tmp_path / "events.csv", 900, given_keys=False)
    rt, clean = _runtime(tmp_path / "store.db"), _runtime(tmp_path / "clean.db")
    try:
        _import(rt, _file(tmp_path / "few.csv", 5, given_keys=False), False)
        with rt.db.transaction() as conn:
            conn.exec_driver_sql(f"DROP INDEX {UNIQUE}")  # as a killed first load leaves it (rows stored)
        _import(clean, _file(tmp_path / "few.csv", 5, given_keys=False), False)
        assert _import(rt, path, True) == _import(clean, path, True)
        assert _state(rt) == _state(clean)
    finally:
        rt.db.dispose()
        clean.db.dispose()


@given(st.lists(st.lists(st.integers(0, 40), max_size=30), max_size=12))
def test_seen_hashes_admits_each_value_once_first_come(batches: list[list[int]]) -> None:
    seen, model = SeenHashes(hasher=int), set()
    for batch in batches:
        keys = [str(v) for v in batch]
        expected = []
        for i, key in enumerate(keys):
            if key not in model:
                model.add(key)
                expected.append(i)
        assert seen.admit(keys) == expected
    assert len(seen) == len(model)


def test_a_load_whose_chunks_switch_between_checks_builds_the_index(tmp_path: Path) -> None:
    """The parsing process's hashes are not the writer's: a chunk that brings no check after chunks that did (or
    the other way round) ends the deferral, the unique index built before it is stored."""
    from array import array

    from funnelbridge.ingest.bulkevents import EventChunk
    from funnelbridge.ingest.bulkplain import plan_plain
    from funnelbridge.ingest.firstkeys import FirstKeys
    from funnelbridge.ingest.foresight import Foresight

    def chunk(key: str) -> EventChunk:
        columns: list[list[Any]] = [[key], ["track"], ["page_view"], [NOW], [None], ["p@x.example"], [None], [None],
                                    [None], [None], [None], [None], ["2026-03-02 12:00:00.000000"]]  # fmt: skip
        return EventChunk(None, 0, [], False, columns=columns, plan=plan_plain(columns))

    rt = _runtime(tmp_path / "store.db")
    try:
        for first_foreseen in (True, False):
            with rt.db.transaction() as conn:
                keys, ahead = FirstKeys(), Foresight()
                keys.start(conn)
                assert keys.active and (UNIQUE, True) not in _indexes_of(conn)
                one, two = chunk("k1"), chunk("k1")
                ahead.annotate(one if first_foreseen else two)
                assert keys.admit(conn, one) is one and keys.active
                assert keys.admit(conn, two) is two and not keys.active  # stored as it is, the index there first
                assert (UNIQUE, True) in _indexes_of(conn)
                assert one.plan is not None and (one.plan.repeated == array("q")) == first_foreseen
                conn.rollback()
    finally:
        rt.db.dispose()


def _indexes_of(conn: Any) -> list[tuple[str, bool]]:
    return sorted((str(ix["name"]), bool(ix["unique"])) for ix in inspect(conn).get_indexes("events"))
