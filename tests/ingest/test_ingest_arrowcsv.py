"""The parsing process's pyarrow reader (funnelbridge.ingest.arrowcsv) gives exactly the chunks of the csv-module
path (pipeline.local_chunks): rows, row numbers, rejections with their problems, keys, order, plans — on messy
files (hypothesis) and on clean ones, where pyarrow does read the chunks."""

from __future__ import annotations

import csv
import io
import pickle
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelbridge.ingest.arrowcsv import ARROW_MIN_ROWS, _cuts, _data_start, _parse, arrow_chunks, here_chunks
from funnelbridge.ingest.arrowlanes import STAMPS, arrow_columns
from funnelbridge.ingest.columnar import ColumnConverter
from funnelbridge.ingest.columns import detect_mapping
from funnelbridge.ingest.parser import produce_fast
from funnelbridge.ingest.pipeline import ParsedChunk, Source, local_chunks, produce
from funnelbridge.ingest.readers import open_table

HEADERS = ["event_id", "type", "event", "email", "user_id", "anonymous_id", "timestamp", "path", "utm_source", "plan"]
_CELLS: dict[str, list[str]] = {
    "event_id": ["", "k1", "k2", "k3", " k1 ", "x" * 201],
    "type": ["", "page_view", "track", "Asset Download", "email_unsubscribed", "bad!", "y" * 101],
    "event": ["", "", "signup", "asset-download"],
    "email": ["", "", "a@x.example", "B@X.example", " c@x.example", "no-at-sign", "é@x.example"],
    "user_id": ["", "", "", "u1", "u2"],
    "anonymous_id": ["", "", "", "anon1", "anon2 "],
    "timestamp": [
        "",
        "2025-01-31T00:00:03+00:00",
        "2025-01-31T00:00:03Z",
        "2025-01-31 10:00:00",
        "2025-03-30T02:30:00",
        "2025-01-31T00:00:03+05:30",
        "01/31/2025 10:00",
        "2025-13-45",
        "2025-01-31T00:00:03.123456+00:00",
        "0999-01-01T00:00:00+00:00",
        "2025-01-31T00:00:03.120Z",
        "2025-02-30T00:00:00Z",
        "2025-01-31T24:00:00+00:00",
    ],
    "path": ["", "/", "/pricing", "/a b", "/a;b|c", "/" + "p" * 1000],
    "utm_source": ["", "", "google", "news letter"],
    "plan": ["", "pro", "free"],
}
_ODD_CELLS = [
    '"quoted, with comma"',
    '"multi\nline"',
    '"say ""hi"""',
    "bad\udcff",
    "nul\x00",
    "a\rb",
    "tab\t",
    "\u2003",
]


_QUOTED_CELLS = ["a, b", 'say "hi"', "x;y|z\tw", '""', "é, ü", ""]  # only inside quotes


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


@st.composite
def _line(draw: st.DrawFn, odd: bool, delimiter: str, quoting: str) -> str:
    """A line of an events file: mostly a row of valid and invalid values; with ``odd`` also quoted, multi-line,
    badly encoded, NUL or carriage-return cells, blank-looking lines and rows of the wrong width. ``quoting``
    "all" quotes every cell (as many CRM exports do), "some" a random few, "none" none."""
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return ""  # a blank line: counted, not a row
    cells = [draw(st.sampled_from(_CELLS[h])) for h in HEADERS]
    if quoting != "none" and draw(st.booleans()):
        cells[draw(st.integers(0, len(cells) - 1))] = draw(st.sampled_from(_QUOTED_CELLS))
    if quoting == "all":
        cells = [_quote(c) for c in cells]
    elif quoting == "some":
        cells = [_quote(c) if draw(st.booleans()) or any(q in c for q in '",;|\t') else c for c in cells]
    if odd and kind == 1:
        return "   "
    if odd and kind == 2:
        cells[draw(st.integers(0, len(cells) - 1))] = draw(st.sampled_from(_ODD_CELLS))
    if odd and kind == 3:
        cells = cells[: draw(st.integers(1, len(cells) - 1))]
    if odd and kind == 4:
        cells.append("surplus")
    return delimiter.join(cells)


@st.composite
def _file(draw: st.DrawFn) -> bytes:
    odd = draw(st.booleans())
    delimiter = draw(st.sampled_from([",", ",", ";", "\t", "|"]))
    quoting = draw(st.sampled_from(["none", "none", "all", "all", "some"]))
    header = [_quote(h) for h in HEADERS] if quoting != "none" and draw(st.booleans()) else HEADERS
    lines = [delimiter.join(header), *draw(st.lists(_line(odd, delimiter, quoting), max_size=30))]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 2]))
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    return bom + text.encode("utf-8", "surrogateescape")  # "\udcff" becomes the byte 0xff


def _source(path: Path, size: int) -> Source:
    table = open_table(path)
    table.close()
    return Source(path, "utf-8", detect_mapping("events", table.headers), ZoneInfo("Europe/Berlin"), size)


def _old(source: Source) -> list[ParsedChunk]:
    table = open_table(source.path)
    try:
        return list(local_chunks(source, table))
    finally:
        table.close()


def _same(old: list[ParsedChunk], new: list[ParsedChunk]) -> None:
    assert new == old
    for a, b in zip(old, new, strict=True):  # equal datetimes could still differ in their tzinfo
        assert [repr(c) for c in a.prepared.columns] == [repr(c) for c in b.prepared.columns]
        assert repr(a.rejected) == repr(b.rejected)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_file(), size=st.integers(1, 8))
def test_arrow_chunks_are_the_csv_chunks(tmp_path: Path, data: bytes, size: int) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(data)
    source = _source(path, size)
    _same(_old(source), list(arrow_chunks(source)))


def test_a_clean_file_is_read_by_pyarrow_and_numbered_across_blank_lines(tmp_path: Path) -> None:
    rows = [f"k{i},page_view,,p{i % 3}@x.example,,,2025-01-31T00:00:{i:02d}+00:00,/,,pro" for i in range(9)]
    rows[4] = f"{rows[4]}\r"  # one CRLF line
    text = "\n".join([",".join(HEADERS), rows[0], "", *rows[1:], "", ""]) + "\n"
    path = tmp_path / "events.csv"
    path.write_text(text, encoding="utf-8")
    assert _parse(text.split("\n", 1)[1].encode(), ",", len(HEADERS)).num_rows == 9
    source = _source(path, 4)
    new = list(arrow_chunks(source))
    _same(_old(source), new)
    assert [c.read for c in new] == [4, 4, 1]
    assert new[1].prepared.columns[0] == ["k4", "k5", "k6", "k7"]


def test_a_quote_switches_to_the_csv_module_from_its_chunk_on(tmp_path: Path) -> None:
    good = [f"k{i},page_view,,p@x.example,,,2025-01-31T00:00:{i:02d}Z,/,,free" for i in range(7)]
    good[5] = 'k5,page_view,,p@x.example,,,2025-01-31T00:00:05Z,"/a\nb",,free'
    path = tmp_path / "events.csv"
    path.write_text("\n".join([",".join(HEADERS), *good, "k9,page_view,,bad"]) + "\n", encoding="utf-8")
    source = _source(path, 2)
    new = list(arrow_chunks(source))
    _same(_old(source), new)
    assert [c.read for c in new] == [2, 2, 2, 2]  # the switch at the third chunk, the rest read the old way
    assert [n for n, *_ in new[-1].rejected] == [9]  # the multi-line record counts once


def test_a_fully_quoted_file_is_read_by_pyarrow(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    with path.open("w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        out = csv.writer(handle, quoting=csv.QUOTE_ALL)
        out.writerow(HEADERS)
        for i in range(9):
            out.writerow([f"k{i}", "page_view", "", f"p{i}@x.example", "", "", f"2025-01-31T00:00:0{i}Z",
                          f'/a, "b" {i}', "", "pro" if i != 7 else "bad\udcff"])  # fmt: skip
    source = _source(path, 4)
    start = _data_start(path, ",")
    assert start is not None  # the quoted header is one record
    cuts = list(_cuts(path, start, 4, ","))
    assert [(len(c.numbers), c.stop, c.quoted) for c in cuts] == [(4, False, True), (4, False, True), (1, False, True)]
    new = list(arrow_chunks(source))
    _same(_old(source), new)
    assert new[0].prepared.columns[7][1] == '/a, "b" 1'


def test_a_quoted_header_over_two_lines_takes_the_old_reader(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    head = ",".join(HEADERS[:-1]) + ',"pl\nan"'
    path.write_text(head + "\nk1,page_view,,a@x.example,,,2025-01-31T00:00:00Z,/,,pro\n", encoding="utf-8")
    assert _data_start(path, ",") is None
    source = _source(path, 4)
    _same(_old(source), list(arrow_chunks(source)))


def test_the_importing_process_reads_a_large_utf8_csv_with_pyarrow(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    rows = [f'k{i},page_view,,p{i % 3}@x.example,,,2025-01-31T00:00:{i:02d}Z,"/a, b",,pro' for i in range(9)]
    path.write_text("\n".join([",".join(HEADERS), *rows]) + "\n", encoding="utf-8")
    source = _source(path, 4)
    table = open_table(path)
    try:
        small = here_chunks(source, table)
        assert small.__name__ == "local_chunks"  # a small file: importing pyarrow would cost more than it saves
        small.close()
        table.size_hint = ARROW_MIN_ROWS
        large = here_chunks(source, table)
        assert large.__name__ == "arrow_chunks"
        _same(_old(source), list(large))
    finally:
        table.close()
    latin = Source(path, "latin-1", source.mapping, source.zone, 4)
    table = open_table(path, encoding="latin-1")
    try:
        table.size_hint = ARROW_MIN_ROWS
        assert here_chunks(latin, table).__name__ == "local_chunks"
    finally:
        table.close()


def test_the_parsing_process_writes_the_same_stream(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    lines = [",".join(HEADERS), *(f"k{i % 5},track,signup,,u{i % 2},,2025-02-0{1 + i % 3}T08:00:00,/,,pro"
                                  for i in range(12)), "x,y"]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = _source(path, 5)
    old, new = io.BytesIO(), io.BytesIO()
    produce(source, old)
    produce_fast(source, new)
    assert _stream(old) == _stream(new)


def test_a_missing_file_fails_as_the_old_producer_does(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(",".join(HEADERS) + "\n", encoding="utf-8")
    source = _source(path, 5)
    path.unlink()
    old, new = io.BytesIO(), io.BytesIO()
    produce(source, old)
    produce_fast(source, new)
    assert _stream(old) == _stream(new)


def _stream(buffer: io.BytesIO) -> list[Any]:
    buffer.seek(0)
    items = []
    while True:
        try:
            items.append(pickle.load(buffer))
        except EOFError:
            return items


def test_the_pyarrow_lanes_give_the_converters_values(tmp_path: Path) -> None:
    times = ["2025-01-31T00:00:03Z", "2025-01-31T00:00:04.120+00:00", "2025-01-31T00:00:05.123456Z"]
    rows = [f"k{i},page_view,,P{i}@X.example,,,{times[i % 3]},/,,pro" for i in range(6)]
    rows[4] = "k4,page_view,,P4@X.example,,,2025-02-30T00:00:00Z,/,,pro"  # a time the converter rejects
    text = "\n".join([",".join(HEADERS), *rows]) + "\n"
    path = tmp_path / "events.csv"
    path.write_text(text, encoding="utf-8")
    source = _source(path, 10)
    converter = ColumnConverter(source.mapping, HEADERS, source.zone)
    table = _parse(text.split("\n", 1)[1].encode(), ",", len(HEADERS))
    given = arrow_columns(table, converter, source.mapping)
    assert given["email"] == [f"p{i}@x.example" for i in range(6)]
    assert given[STAMPS][:3] == [
        "2025-01-31 00:00:03.000000",
        "2025-01-31 00:00:04.120000",
        "2025-01-31 00:00:05.123456",
    ]
    new = list(arrow_chunks(source))
    _same(_old(source), new)
    stamps = ["00:00:03.000000"] * 2 + ["00:00:04.120000"] + ["00:00:05.123456"] * 2  # rows 2 and 5, 3, 4 and 7
    assert new[0].prepared.columns[-1] == [f"2025-01-31 {s}" for s in stamps]
    assert [n for n, *_ in new[0].rejected] == [6]
    other = _parse(b"k,page_view,,\xc3\xa9@x.example,,,2025-01-31 00:00:03,/,,pro\n", ",", len(HEADERS))
    given = arrow_columns(other, converter, source.mapping)
    assert "email" not in given and STAMPS not in given  # non-ASCII email, local time: left to the converter
    assert given["path"] == ["/"] and given["source"] == [None]
    odd = _parse(b"k ,page_view,,,,,,/\xc2\xa0,,\n", ",", len(HEADERS))  # a blank after a text: the converter's
    assert {"idempotency_key", "path"}.isdisjoint(arrow_columns(odd, converter, source.mapping))
