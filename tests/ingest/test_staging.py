"""Plain chunks staged by the parsing process and copied by the writer (:mod:`funnelbridge.ingest.staging`) store
exactly what binding the rows stores; the staging directory goes away however the import ends."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import accounts, identities, rows
from sqlalchemy import event

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.errors import InputError
from funnelbridge.ingest import import_file, staging
from funnelbridge.ingest.columns import detect_mapping
from funnelbridge.ingest.parser import staged_columns
from funnelbridge.ingest.pipeline import Source, parsed_chunks
from funnelbridge.ingest.readers import open_table
from funnelbridge.ingest.staging import STAGED, StagedColumns, Stager, insert_staged, stage_area, staged_subset
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import activity_queue, contacts, events, ingest_owed

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HEADERS = ["event_id", "type", "event", "email", "user_id", "anonymous_id", "timestamp", "path", "utm_source", "plan"]
COUNTS = ("read", "inserted", "duplicates", "rejected", "contacts_created", "merged")


def _runtime(path: Path) -> Runtime:
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    return Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus(published=[]))


def _write(path: Path, lines: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADERS)
        out.writerows(lines)
    return path


def _imported(tmp: Path, source: Path, workers: int, name: str, bulk: bool) -> dict[str, Any]:
    """Every table the import writes, the summaries of a first run and a re-run, and how many ``INSERT`` copied
    from a staging file."""
    rt = _runtime(tmp / f"{name}.db")
    copies: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "fb_stage.rows" in statement:
            copies.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", seen)
    try:
        runs = [import_file(rt, "events", source, chunk_size=13, defer=True, workers=workers, bulk=bulk,
                            rejects=tmp / f"{name}.rejected.csv") for _ in range(2)]  # fmt: skip
        tables = {t.name: rows(rt, t) for t in (accounts, contacts, identities, events, activity_queue, ingest_owed)}
    finally:
        rt.db.dispose()
    return {"tables": tables, "summaries": [[getattr(s, c) for c in COUNTS] for s in runs], "copies": len(copies)}


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
_PLAIN = st.tuples(
    st.one_of(st.just(""), st.sampled_from(["k1", "k2", "k3", "k4"])),  # repeated keys, within and across chunks
    st.sampled_from([("page_view", ""), ("track", "asset_download"), ("track", 'say "hi", ok')]),
    st.sampled_from(["email", "user", "anon"]),
    st.integers(0, 9),  # who: a few people, so groups repeat
    st.integers(0, 30),  # when
    st.one_of(st.just(""), _TEXT, st.just('/a,"b"')),  # quotes and delimiters in a value
    st.one_of(st.just(""), _TEXT),
    st.one_of(st.just(""), _TEXT),  # an unmapped column: a property
)


def _line(row: tuple[Any, ...]) -> list[str]:
    key, (kind, name), ident, who, day, path, source, plan = row
    ids = {"email": f"p{who}@c.example", "user": f"u{who}", "anon": f"v{who}"}
    email, user, anon = (ids[ident] if ident == k else "" for k in ("email", "user", "anon"))
    return [key, kind, name, email, user, anon, f"2026-02-{1 + day % 28:02d}T0{who % 10}:00:00Z", path, source, plan]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_PLAIN, min_size=1, max_size=80), bulk=st.booleans())
def test_a_staged_import_stores_what_binding_stores(tmp_path: Path, lines: list[tuple[Any, ...]], bulk: bool) -> None:
    # workers=2 stages every plain chunk (this file has no other kind); workers=1 binds every row
    name = f"{len(lines)}-{bulk}-{abs(hash(tuple(lines)))}"
    source = _write(tmp_path / f"{name}.csv", [_line(r) for r in lines])
    bound = _imported(tmp_path, source, 1, f"bound-{name}", bulk)
    staged = _imported(tmp_path, source, 2, f"staged-{name}", bulk)
    assert bound["copies"] == 0
    assert staged["copies"] > 0 or staged["summaries"][0][1] == 0  # no copy only when no row was stored (all refused)
    assert staged["summaries"][1][1] == 0  # the re-run is idempotent
    assert {**staged, "copies": 0} == {**bound, "copies": 0}


def test_a_mixed_file_with_held_back_and_stored_rows_stores_what_binding_stores(tmp_path: Path) -> None:
    # a first bulk load holds rows back (keys repeated across chunks: staged_subset), a second file half stored
    # (a failed all-new guess redone looked up), identifications and unsubscribes in between (not staged)
    who = ("email", "user", "anon")
    lines = [_line((f"k{i % 40}" if i % 3 == 0 else "", ("page_view", ""), who[i % 3], i % 17, i % 29,
                    f"/p{i % 5}", "ads" if i % 4 else "", f"plan{i % 3}")) for i in range(400)]  # fmt: skip
    lines[100:100] = [["", "identify", "", "p1@c.example", "", "v2", "2026-02-03T00:00:00Z", "", "", ""]]
    first = _write(tmp_path / "first.csv", lines[:250])
    second = _write(tmp_path / "second.csv", lines)
    results = []
    for workers in (1, 2):
        rt = _runtime(tmp_path / f"w{workers}.db")
        try:
            runs = [import_file(rt, "events", path, chunk_size=37, defer=True, workers=workers, bulk=True)
                    for path in (first, second, second)]  # fmt: skip
            tables = {t.name: rows(rt, t) for t in (contacts, identities, events, activity_queue, ingest_owed)}
        finally:
            rt.db.dispose()
        results.append((tables, [[getattr(s, c) for c in COUNTS] for s in runs]))
    assert results[0][1][1][2] > 0 and results[0][1][2][1] == 0  # duplicates stored before; an idempotent re-run
    assert results[1] == results[0]


def test_the_staging_directory_goes_away(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where the import makes its staging directory
    source = _write(tmp_path / "events.csv", [_line((f"e{i}", ("page_view", ""), "email", i % 7, i, "/", "", ""))
                                              for i in range(200)])  # fmt: skip
    rt = _runtime(tmp_path / "store.db")
    seen: list[list[str]] = []

    def progress(_done: int) -> None:  # after each chunk: the directory and the chunks' files exist meanwhile
        seen.append(sorted(p.name for p in temp.glob("*/*")))

    try:
        summary = import_file(rt, "events", source, chunk_size=50, defer=True, workers=2, progress=progress)
        assert summary.inserted == 200 and any(seen) and not list(temp.iterdir())

        def fail(_done: int) -> None:
            assert list(temp.glob("*/*.db"))
            raise RuntimeError("the writer fails")

        with pytest.raises(RuntimeError, match="the writer fails"):
            import_file(rt, "events", source, chunk_size=50, defer=True, workers=2, progress=fail)
        assert not list(temp.iterdir())
    finally:
        rt.db.dispose()
    assert seen[-1] == ["4.db"]  # a stored chunk's file is deleted when the next one arrives


def test_a_parsing_failure_is_an_input_error_and_the_directory_goes_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    path = _write(tmp_path / "events.csv", [_line(("", ("page_view", ""), "email", 1, 1, "/", "", ""))])
    table = open_table(path)
    source = Source(path, "utf-8", detect_mapping("events", table.headers, None), UTC, 10)
    table.close()
    path.unlink()
    rt = _runtime(tmp_path / "store.db")
    try:
        with pytest.raises(InputError, match="no such file"):
            list(parsed_chunks(source, rt.db.engine))
    finally:
        rt.db.dispose()
    assert not list(temp.iterdir())


def _columns(n: int) -> list[list[Any]]:
    """Staged columns (:data:`STAGED` order) of ``n`` rows with NULLs, quotes, non-ASCII text and JSON."""
    return [[f"k{i}" for i in range(n)], [None if i % 2 else f"v{i}" for i in range(n)], ["page_view"] * n,
            [f"2026-01-01 00:00:{i % 60:02d}.000000" for i in range(n)],
            ['/"ä",\n' if i % 3 else None for i in range(n)], [None] * n, ["g"] * n, ["cpc"] * n,
            [json.dumps({"plan": i}) if i % 4 else None for i in range(n)]]  # fmt: skip


def test_a_stager_writes_the_rows_as_given_or_nothing(tmp_path: Path) -> None:
    stager = Stager(tmp_path)
    columns = _columns(30)
    file = stager.stage(columns)
    assert file is not None
    with sqlite3.connect(file) as conn:
        stored = conn.execute("SELECT rowid, * FROM rows ORDER BY rowid").fetchall()
    assert stored == [(i + 1, *row) for i, row in enumerate(zip(*columns, strict=True))]
    assert [d[1] for d in sqlite3.connect(file).execute("PRAGMA table_info(rows)")] == list(STAGED)
    columns[4][7] = 7  # not text: pyarrow refuses the column; nothing is left behind, the chunk is bound
    assert stager.stage(columns) is None and sorted(p.name for p in tmp_path.iterdir()) == ["1.db"]


def test_the_parser_stages_what_the_plain_lane_binds() -> None:
    columns: list[list[Any]] = [["k"], ["track"], ["asset_download"], [NOW], ["v"], [None], [None], ["/p"], ["g"],
                                [None], ["c"], [{"a": [1, "ü"]}], ["2026-03-02 12:00:00.000000"]]  # fmt: skip
    assert staged_columns(columns) == [["k"], ["v"], ["asset_download"], ["2026-03-02 12:00:00.000000"], ["/p"],
                                       ["c"], ["g"], [None], [json.dumps({"a": [1, "ü"]})]]  # fmt: skip


def test_subsets_keep_their_rows_positions() -> None:
    columns = StagedColumns([[10, 11, 12, 13]], "f.db", 4)
    picked = staged_subset(columns, [1, 3], [[11, 13]])
    assert isinstance(picked, StagedColumns) and picked.rows == [2, 4] and picked == [[11, 13]]
    again = staged_subset(picked, [1], [[13]])
    assert isinstance(again, StagedColumns) and again.rows == [4] and (again.file, again.size) == ("f.db", 4)
    assert type(staged_subset([[1, 2]], [0], [[1]])) is list


def test_the_copy_follows_the_listed_rows_without_a_sort_and_only_from_the_attached_file(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    file = Stager(stage).stage(_columns(6))
    assert file is not None
    rt = _runtime(tmp_path / "store.db")
    try:
        with stage_area(rt.db.engine) as area:
            assert area is not None
            staged = StagedColumns([[None] * 6], file, 6)
            with rt.db.transaction() as conn:  # nothing attached: the caller binds the rows
                assert insert_staged(conn, staged, [None] * 6, "2026-03-02 12:00:00.000000") is None
            area.current = file
            with rt.db.transaction() as conn:
                assert insert_staged(conn, StagedColumns([[None]], file, 5), [None], "x") is None  # not its size
                picked = staged_subset(staged, [4, 0, 2], [[None] * 3])
                assert insert_staged(conn, picked, [None] * 3, "2026-03-02 12:00:00.000000") == 3
                assert insert_staged(conn, staged, [None] * 6, "2026-03-02 12:00:00.000000") == 3  # 3 stored
                copy = str(staging._COPY.compile(dialect=conn.dialect))
                plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {copy}", ("x",))]
                assert plan == ["SCAN i", "SEARCH s USING INTEGER PRIMARY KEY (rowid=?)"]  # no sort
                every = str(staging._ALL.compile(dialect=conn.dialect))
                plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {every}", ("x", "[]"))]
                assert plan[0].startswith("SCAN j") and plan[1:] == ["SEARCH s USING INTEGER PRIMARY KEY (rowid=?)"]
    finally:
        rt.db.dispose()
    stored = rows(rt, events)
    assert [r["idempotency_key"] for r in stored] == ["k4", "k0", "k2", "k1", "k3", "k5"]
    assert stored[2]["properties"] == {"plan": 2} and stored[1]["properties"] is None and stored[1]["path"] is None
    assert stored[3]["path"] == '/"ä",\n' and stored[3]["anonymous_id"] is None and stored[2]["anonymous_id"] == "v2"


def test_directories_of_killed_imports_are_swept_by_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process id that no process has now (a SIGKILLed import's)
    stale = tmp_path / f"funnelbridge-stage-{gone.pid}-abc"
    live = tmp_path / f"funnelbridge-stage-{os.getpid()}-def"  # an import running now
    for path in (stale, live):
        path.mkdir()
        (path / "1.db").write_bytes(b"x")
    other = tmp_path / "funnelbridge-stage-notes"
    other.mkdir()
    rt = _runtime(tmp_path / "store.db")
    try:
        with stage_area(rt.db.engine) as area:
            assert area is not None and area.directory.name.startswith(f"funnelbridge-stage-{os.getpid()}-")
            assert not stale.exists() and live.exists() and other.exists()
    finally:
        rt.db.dispose()
    assert sorted(p.name for p in tmp_path.glob("funnelbridge-stage-*")) == [live.name, other.name]
