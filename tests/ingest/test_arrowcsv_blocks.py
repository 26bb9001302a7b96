"""The pyarrow reader gives the csv-module path's chunks (rows, row numbers, rejections, keys, order, plans) also
when the file is read a few bytes at a time (funnelbridge.ingest.arrowcsv._cuts counts line breaks block by block
instead of counting its buffer again) and for files without an event column (fastprep looks the type texts up
once each) — random files (the reader comparison's strategy), blocks of 1-64 bytes; a lone carriage return
(what sends a chunk to the csv module) is found as two counts found it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ingest_arrowcsv import _CELLS, _file, _old, _same, _source

from funnelbridge.ingest import arrowcsv
from funnelbridge.ingest.arrowcsv import _lone_cr, arrow_chunks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_file(), size=st.integers(1, 8), block=st.integers(1, 64))
def test_small_blocks_give_the_csv_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, size: int, block: int
) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(data)
    source = _source(path, size)
    monkeypatch.setattr(arrowcsv, "_BLOCK", block)
    _same(_old(source), list(arrow_chunks(source)))


_NO_EVENT = [h for h in _CELLS if h != "event"]


@st.composite
def _eventless(draw: st.DrawFn) -> bytes:
    """An events file without an event column: rows of valid and invalid cells, blank lines, times in and out of
    order, repeated keys."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_NO_EVENT)
    for _ in range(draw(st.integers(0, 30))):
        writer.writerow([draw(st.sampled_from(_CELLS[h])) for h in _NO_EVENT] if draw(st.integers(0, 9)) else [])
    return out.getvalue().encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_eventless(), size=st.integers(1, 8))
def test_a_file_without_an_event_column_gives_the_csv_chunks(tmp_path: Path, data: bytes, size: int) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(data)
    _same(_old(_source(path, size)), list(arrow_chunks(_source(path, size))))


@given(data=st.binary(max_size=12).map(lambda b: bytes(b"\r\na"[x % 3] for x in b)))
def test_a_lone_carriage_return_is_one_not_before_a_line_feed(data: bytes) -> None:
    assert _lone_cr(data) == (data.count(b"\r") != data.count(b"\r\n"))
