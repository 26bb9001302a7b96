"""What crosses the pipe (funnelbridge.ingest.wire): a chunk written by dump_item and read back by pickle.load is the
chunk — rows, times (UTC datetimes, made on demand from int64 microseconds), plans, rejections — on random files,
and the parsing process's stream carries no datetime objects."""

from __future__ import annotations

import csv
import io
import pickle
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelbridge.ingest.arrowcsv import arrow_chunks
from funnelbridge.ingest.bulkplain import AT
from funnelbridge.ingest.bulkstore import sqlite_times
from funnelbridge.ingest.columns import detect_mapping
from funnelbridge.ingest.foresight import Foresight
from funnelbridge.ingest.parser import produce_fast
from funnelbridge.ingest.pipeline import ParsedChunk, Source
from funnelbridge.ingest.readers import open_table
from funnelbridge.ingest.wire import Times, dump_item, epoch_micros

HEADERS = ["event_id", "type", "event", "email", "anonymous_id", "timestamp", "path", "utm_source", "plan"]
_CELL = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
_TIME = st.datetimes(
    datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.sampled_from([UTC, ZoneInfo("Asia/Tokyo")])
)
_ROW = st.tuples(
    st.one_of(st.just(""), st.sampled_from(["k1", "k2", "k3"]), _CELL),
    st.sampled_from(["page_view", "track", "identify", "email", "", "bad type"]),
    st.one_of(st.just(""), st.sampled_from(["asset_download", "email_bounced"])),
    st.one_of(st.just(""), st.sampled_from(["a@b.example", "C@D.example"]), _CELL),
    st.one_of(st.just(""), st.sampled_from(["v1", "v2"])),
    st.one_of(_TIME.map(datetime.isoformat), _CELL),
    _CELL,
    _CELL,
    _CELL,
)


def _through_the_wire(item: ParsedChunk) -> ParsedChunk:
    out = io.BytesIO()
    dump_item(item, out)
    back = pickle.loads(out.getvalue())
    assert isinstance(back, ParsedChunk)
    return back


@given(times=st.lists(_TIME, max_size=40))
def test_times_are_the_datetimes(times: list[datetime]) -> None:
    utc = [t.astimezone(UTC) for t in times]
    back = Times(epoch_micros(sqlite_times(utc)))
    assert back == utc and list(back) == utc and len(back) == len(utc)
    assert all(b.tzinfo is UTC for b in back)  # as the converter gives them
    assert [back[i] for i in range(len(utc))] == utc and back[1:3] == utc[1:3]
    assert pickle.loads(pickle.dumps(back)) == back


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_ROW, max_size=60), size=st.integers(1, 25))
def test_a_chunk_through_the_wire_is_the_chunk(tmp_path: Path, lines: list[tuple[str, ...]], size: int) -> None:
    path = tmp_path / "random.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADERS)
        out.writerows(lines)
    for chunk in arrow_chunks(_source(path, size)):
        back = _through_the_wire(chunk)
        assert back == chunk
        assert repr(back.rejected) == repr(chunk.rejected)
        assert [r.activity() for r in back.prepared.rows] == [r.activity() for r in chunk.prepared.rows]
        times = back.prepared.columns[AT]
        assert isinstance(times, Times) and all(t.tzinfo is UTC for t in times)
        assert _through_the_wire(back) == chunk  # a chunk read from the wire goes again as it is


def test_the_stream_holds_no_datetime(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    rows = [f"k{i},page_view,,p{i % 3}@x.example,,2025-01-31T00:00:{i:02d}Z,/,,pro" for i in range(9)]
    path.write_text("\n".join([",".join(HEADERS), *rows]) + "\n", encoding="utf-8")
    stream = io.BytesIO()
    produce_fast(_source(path, 4), stream)
    assert b"datetime" not in stream.getvalue()
    stream.seek(0)
    first = pickle.load(stream)
    assert first.prepared.plan is not None
    assert first.prepared.columns[AT].micros == array("q", [1738281600000000 + i * 1_000_000 for i in range(4)])
    assert first.prepared.columns[AT][3] == datetime(2025, 1, 31, 0, 0, 3, tzinfo=UTC)
    assert Times(array("q", [0, -1]))[:] == [datetime(1970, 1, 1, tzinfo=UTC) - timedelta(microseconds=k)
                                              for k in (0, 1)]  # fmt: skip


def _source(path: Path, size: int) -> Source:
    table = open_table(path)
    table.close()
    return Source(path, "utf-8", detect_mapping("events", table.headers), ZoneInfo("Europe/Berlin"), size)


def test_an_annotated_plan_and_coded_columns_come_back(tmp_path: Path) -> None:
    """The parsing process's foresight (identifier numbers, repeated rows, coded touches) crosses with the plan,
    and columns sent as codes come back as equal lists (texts and None)."""
    path = tmp_path / "events.csv"
    rows = [f"k{i % 7},page_view,,p{i % 3}@x.example,,2025-01-31T00:00:{i:02d}Z,/p{i % 2},{'ads' if i % 2 else ''},"
            for i in range(30)]  # fmt: skip
    path.write_text("\n".join([",".join(HEADERS), *rows]) + "\n", encoding="utf-8")
    foresight = Foresight()
    for chunk in arrow_chunks(_source(path, 4)):
        foresight.annotate(chunk.prepared)
        back = _through_the_wire(chunk)
        assert back == chunk and back.prepared.columns == chunk.prepared.columns
        plan, sent = back.prepared.plan, chunk.prepared.plan
        assert plan is not None and sent is not None
        assert (plan.gids, plan.repeated, plan.touches) == (sent.gids, sent.repeated, sent.touches)
        assert plan.groups == sent.groups and plan.first == sent.first and plan.index == sent.index
