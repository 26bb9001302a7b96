"""Events import on SQLite stores a chunk without looking its keys up while the import is expected to be all new
(``bulkevents.Guess``): a chunk that meets a stored key is rolled back and stored the looked-up way, leaving no
trace of the guess — no contact for a duplicate row's new email, exact counts — and later new chunks guess again."""

from __future__ import annotations

import csv
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest_helpers import rows
from sqlalchemy import select

from funnelbridge.ingest import import_file
from funnelbridge.ingest.bulkevents import Guess, prepare_event_columns, write_event_columns
from funnelbridge.ingest.columnar import ColumnConverter, Columns
from funnelbridge.ingest.columns import detect_mapping
from funnelbridge.ingest.context import ImportContext
from funnelbridge.ingest.deadletter import DeadLetterWriter
from funnelbridge.ingest.summary import ImportSummary
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import contacts, events

HEADERS = ["event_id", "type", "email", "timestamp", "utm_source"]


def _row(key: str, email: str, minute: int, source: str = "") -> list[str]:
    return [key, "page_view", email, f"2026-02-01T10:{minute:02d}:00Z", source]


def _write(path: Path, table: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([HEADERS, *table])
    return path


def test_a_chunk_meeting_a_stored_key_is_stored_as_if_looked_up(sqlite_rt: Runtime, tmp_path: Path) -> None:
    table = [
        _row("e1", "a@x.example", 1, "ads"), _row("e2", "b@x.example", 2), _row("e3", "a@x.example", 3),
        _row("e4", "c@x.example", 4), _row("e1", "new@x.example", 5, "mail"), _row("e5", "b@x.example", 6),
        _row("e6", "d@x.example", 7), _row("e7", "a@x.example", 8, "mail"), _row("e8", "d@x.example", 9),
    ]  # fmt: skip
    src = _write(tmp_path / "events.csv", table)
    summary = import_file(sqlite_rt, "events", src, chunk_size=3, after=False)
    assert (summary.read, summary.inserted, summary.duplicates, summary.contacts_created) == (9, 8, 1, 4)
    people = {r["email"]: r for r in rows(sqlite_rt, contacts)}
    assert sorted(people) == ["a@x.example", "b@x.example", "c@x.example", "d@x.example"]  # not new@x.example
    assert (people["a@x.example"]["first_source"], people["a@x.example"]["last_source"]) == ("ads", "mail")
    stored = rows(sqlite_rt, events)
    assert sorted(r["idempotency_key"] for r in stored) == [f"e{i}" for i in range(1, 9)]
    before = (stored, rows(sqlite_rt, contacts))
    again = import_file(sqlite_rt, "events", src, chunk_size=3, after=False)
    assert (again.inserted, again.duplicates, again.contacts_created) == (0, 9, 0)
    assert (rows(sqlite_rt, events), rows(sqlite_rt, contacts)) == before


def _chunk(table: list[list[str]]) -> Columns:
    mapping = detect_mapping("events", HEADERS, None)
    return ColumnConverter(mapping, HEADERS, ZoneInfo("UTC")).convert(list(enumerate(table, start=2)))


def test_the_guess_turns_off_at_a_stored_key_and_back_on_at_a_new_chunk(sqlite_rt: Runtime, tmp_path: Path) -> None:
    summary = ImportSummary(kind="events", path=tmp_path / "x.csv", source_format="generic")
    with DeadLetterWriter(tmp_path / "dead.csv", HEADERS) as dead:
        ctx = ImportContext(sqlite_rt, sqlite_rt.clock.now(), ZoneInfo("UTC"), summary, dead, False)
        guess = Guess()
        steps = []
        for table in ([_row("e1", "a@x.example", 1)], [_row("e1", "a@x.example", 1)], [_row("e2", "b@x.example", 2)]):
            with sqlite_rt.db.transaction() as conn:
                write_event_columns(ctx, conn, prepare_event_columns(_chunk(table)), guess=guess)
            steps.append(guess.all_new)
    assert steps == [True, False, True]
    assert (summary.inserted, summary.duplicates) == (2, 1)
    with sqlite_rt.db.read() as conn:
        assert conn.execute(select(contacts.c.email).order_by(contacts.c.email)).scalars().all() == [
            "a@x.example",
            "b@x.example",
        ]
