"""An events import parsed in a second process (:mod:`funnelbridge.ingest.pipeline`) stores exactly what a
single-process import stores — rows, dead letters, summary — and its parsing process ends with the import."""

from __future__ import annotations

import csv
import os
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import accounts, identities, merges, rows

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.errors import InputError
from funnelbridge.ingest import import_file
from funnelbridge.ingest.columns import detect_mapping
from funnelbridge.ingest.pipeline import PIPELINE_MIN_ROWS, Source, local_chunks, parsed_chunks, use_pipeline
from funnelbridge.ingest.readers import open_table
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import activity_queue, contacts, events

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HEADERS = ["event_id", "type", "event", "email", "anonymous_id", "timestamp", "path", "utm_source", "plan"]
ZONE = ZoneInfo("Europe/Berlin")


def _line(i: int) -> list[str]:
    """Row ``i`` of a mixed file: plain events, identifications, bounces, repeated keys and bad rows."""
    email = f"p{i % 53}@c{i % 11}.example" if i % 4 else ""
    anon = f"v{i % 29}" if not email or i % 13 == 0 else ""
    at = f"2026-02-{1 + i % 20:02d}T{i % 24:02d}:{i % 60:02d}:00" + ("Z" if i % 3 else "")
    kind, event = ("track", "email_bounced") if i % 97 == 0 else ("page_view", "")
    key = f"k{i % 700}" if i % 5 == 0 else ""  # every fifth row keyed; keys repeat past row 700
    if i % 61 == 0:
        at = "yesterday"  # refused by the converter
    if i % 67 == 0:
        email, anon = "", ""  # refused: nobody to attach the event to
    return [key, kind, event, email, anon, at, f"/p{i % 7}", "ads" if i % 3 == 0 else "", f"plan{i % 4}"]


def _file(path: Path, n: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADERS)
        for i in range(n):
            out.writerow(_line(i))
        handle.write('bad,"unclosed\n')  # a record the CSV reader cannot parse, at the end
    return path


def _runtime(path: Path) -> Runtime:
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    return Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus(published=[]))


def _imported(tmp: Path, source: Path, workers: int, name: str) -> dict[str, Any]:
    rt = _runtime(tmp / f"{name}.db")
    rejects = tmp / f"{name}.rejected.csv"
    try:
        summary = import_file(rt, "events", source, chunk_size=97, defer=True, workers=workers, rejects=rejects)
        again = import_file(rt, "events", source, chunk_size=97, defer=True, workers=workers, rejects=rejects)
        tables = {t.name: rows(rt, t) for t in (accounts, contacts, identities, merges, events, activity_queue)}
    finally:
        rt.db.dispose()
    counts = ("read", "inserted", "duplicates", "rejected", "contacts_created", "merged")
    return {
        "tables": tables,
        "summary": [getattr(summary, c) for c in counts],
        "rerun": [getattr(again, c) for c in counts],
        "dead_letters": rejects.read_bytes(),
    }


@pytest.mark.parametrize("bulk", [False, True], ids=["indexed", "bulk"])
def test_pipeline_stores_what_one_process_stores(tmp_path: Path, bulk: bool) -> None:
    source = _file(tmp_path / "events.csv", 1500)
    one, two = _imported(tmp_path, source, 1, "one"), _imported(tmp_path, source, 2, "two")
    assert one["summary"][3] > 20 and one["summary"][5] > 0  # rejections and merges are in the comparison
    assert one["rerun"][1] == 0
    assert two == one


def _source(path: Path, chunk: int = 50) -> Source:
    table = open_table(path)
    try:
        mapping = detect_mapping("events", table.headers, None)
    finally:
        table.close()
    return Source(path, "utf-8", mapping, ZONE, chunk)


def _chunks_here(source: Source) -> list[Any]:
    table = open_table(source.path)
    try:
        return list(local_chunks(source, table))
    finally:
        table.close()


_CELL = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_TIME = st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)).map(lambda t: t.isoformat())
_TIMEZ = st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)).map(
    lambda t: (t + timedelta(microseconds=1)).isoformat()
)
_ROW = st.tuples(
    st.one_of(st.just(""), st.sampled_from(["k1", "k2", "k3"]), _CELL),
    st.sampled_from(["page_view", "track", "identify", "email", "", "bad type"]),
    st.one_of(st.just(""), st.sampled_from(["asset_download", "email_bounced"])),
    st.one_of(st.just(""), st.sampled_from(["a@b.example", "C@D.example"]), _CELL),
    st.one_of(st.just(""), st.sampled_from(["v1", "v2"])),
    st.one_of(_TIME, _TIMEZ, _CELL),
    _CELL,
    _CELL,
    _CELL,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_ROW, max_size=120))
def test_a_pickled_chunk_is_the_chunk(tmp_path: Path, lines: list[tuple[str, ...]]) -> None:
    # what crosses the pipe between the processes: the chunk pickled column by column, rebuilt the same
    path = tmp_path / "random.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADERS)
        out.writerows(lines)
    for chunk in _chunks_here(_source(path, chunk=17)):
        back = pickle.loads(pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL))
        assert back == chunk
        assert [r.activity() for r in back.prepared.rows] == [r.activity() for r in chunk.prepared.rows]


def _plain(value: Any) -> Any:
    """Exceptions (a raw row the CSV reader could not parse) compared by type and message."""
    if isinstance(value, Exception):
        return type(value), str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def test_parsed_chunks_match_local_chunks(tmp_path: Path) -> None:
    source = _source(_file(tmp_path / "events.csv", 400))
    there, here = list(parsed_chunks(source)), _chunks_here(source)
    assert [c.prepared for c in there] == [c.prepared for c in here]
    assert [(c.read, _plain(c.rejected)) for c in there] == [(c.read, _plain(c.rejected)) for c in here]


def test_leaving_early_stops_the_parsing_process(tmp_path: Path) -> None:
    chunks = parsed_chunks(_source(_file(tmp_path / "events.csv", 2000), chunk=10))
    next(chunks)
    process = chunks.gi_frame.f_locals["process"]  # type: ignore[union-attr]
    assert process.poll() is None
    chunks.close()
    assert process.returncode is not None


def test_a_file_the_parsing_process_cannot_read_is_an_input_error(tmp_path: Path) -> None:
    source = _source(_file(tmp_path / "events.csv", 10))
    source.path.unlink()
    with pytest.raises(InputError, match="no such file"):
        list(parsed_chunks(source))


def test_workers_decide_or_the_size_and_a_spare_cpu_do() -> None:
    assert use_pipeline(2, 10) and not use_pipeline(1, 10**9)
    assert not use_pipeline(None, PIPELINE_MIN_ROWS - 1, load=0.0) and not use_pipeline(None, None, load=0.0)
    cpus = os.cpu_count() or 1
    assert use_pipeline(None, PIPELINE_MIN_ROWS, load=cpus - 1.0) == (cpus > 1)
    assert not use_pipeline(None, PIPELINE_MIN_ROWS, load=cpus - 0.5)
