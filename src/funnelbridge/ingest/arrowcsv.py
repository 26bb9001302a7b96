"""The events import's CSV reader — the parsing process's, and the importing process's for a large file
(:func:`here_chunks`): a UTF-8 events file cut into chunks of records by byte scans, each chunk read by pyarrow's
CSV parser, its columns handed to the column-wise converter as lists — the chunks (rows, row numbers, rejections
and their problems) exactly those :func:`funnelbridge.ingest.pipeline.local_chunks` gives.

Exactness comes from reading with pyarrow only what both readers see the same way. A chunk is ``chunk_size``
non-empty lines; it goes to pyarrow when its bytes hold no carriage return other than in ``\\r\\n`` and no NUL,
and every quote character sits in a clean quoted field (wholly quoted, inner quotes doubled, no line break: see
:func:`_line_pattern`, checked by one RE2 scan of the chunk), so that every line is one record and pyarrow splits
and unquotes it as ``csv`` does — blank lines are counted for the row numbers and skipped, as
:func:`~funnelbridge.ingest.readers.open_table` does. Any other chunk is read by Python's ``csv`` module, exactly as
before: a chunk pyarrow refuses (invalid UTF-8, a row of the wrong width) is decoded and read the old way over the
same lines, and from the first chunk holding any other quote (a quoted line break, a quote inside an unquoted
field or after a closing one) or a lone carriage return on — a quoted field may span lines, and past chunk ends —
the rest of the file is read the old way from that chunk's first byte, numbered on from there. Files in other
encodings, Parquet files and files whose header line is not one clean record take
:func:`~funnelbridge.ingest.pipeline.local_chunks` as they are.
"""

from __future__ import annotations

import io
import re
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from funnelbridge.ingest.arrowlanes import arrow_columns
from funnelbridge.ingest.columnar import ColumnConverter
from funnelbridge.ingest.fastprep import prepare_columns
from funnelbridge.ingest.pipeline import ParsedChunk, Source, local_chunks
from funnelbridge.ingest.readers import Table, csv_rows, open_table, text_of
from funnelbridge.store.bulk import batched

__all__ = ["ARROW_MIN_ROWS", "arrow_chunks", "fast_source", "here_chunks"]

ARROW_MIN_ROWS = 20_000
"""An events file parsed in the importing process (``workers=1``) is read by :func:`arrow_chunks` from this many
rows (estimated) on: below it, importing pyarrow (0.1-0.3 CPU s) costs about what it saves."""

_BLOCK = 1 << 23  # bytes read at a time
_BOM = b"\xef\xbb\xbf"


def fast_source(source: Source) -> bool:
    """Whether :func:`arrow_chunks` may read ``source`` with pyarrow at all (a UTF-8 CSV)."""
    return source.encoding.lower().replace("_", "-") in ("utf-8", "utf8") and source.path.suffix.lower() not in (
        ".parquet",
        ".pq",
    )


def here_chunks(source: Source, table: Table) -> Generator[ParsedChunk, None, None]:
    """The chunks of ``source`` (``table`` opened from it) parsed in the importing process: by :func:`arrow_chunks`
    for a UTF-8 CSV of :data:`ARROW_MIN_ROWS` rows or more, else by :func:`~funnelbridge.ingest.pipeline.local_chunks`
    (the same chunks either way)."""
    if fast_source(source) and (table.size_hint or 0) >= ARROW_MIN_ROWS:
        return arrow_chunks(source)
    return local_chunks(source, table)


def arrow_chunks(source: Source) -> Generator[ParsedChunk, None, None]:
    """The chunks of ``source``, as :func:`~funnelbridge.ingest.pipeline.local_chunks` gives them."""
    table = open_table(source.path, encoding=source.encoding)
    try:
        start = _data_start(source.path, table.delimiter) if fast_source(source) and table.delimiter else None
        if start is None:
            yield from local_chunks(source, table)
            return
        yield from _Reader(source, table, start).chunks()
    finally:
        table.close()


def _data_start(path: Path, delimiter: str) -> int | None:
    """The byte offset of the data after a header line that is one record (no quotes, or clean ones), or None."""
    with path.open("rb") as handle:
        head = handle.read(_BLOCK)
    offset = len(_BOM) if head.startswith(_BOM) else 0
    end = head.find(b"\n", offset)
    if end < 0 or b"\r" in head[offset : end - 1]:
        return None
    if b'"' in head[offset:end] and not re.fullmatch(_line_pattern(delimiter) + rb"\r?", head[offset:end]):
        return None
    return end + 1


@dataclass
class _Cut:
    """One chunk's bytes and its lines: each non-empty line's row number, how many rows the file had read
    before, and whether the rest of the file must be read the old way from its start (``stop``)."""

    data: bytes
    numbers: list[int]
    last: int
    stop: bool
    offset: int
    quoted: bool = False
    """Whether the chunk holds quotes (all in clean quoted fields: :func:`_clean_quotes`)."""


class _Reader:
    def __init__(self, source: Source, table: Table, start: int) -> None:
        self.source, self.headers, self.offset = source, table.headers, start
        self.delimiter = table.delimiter or ","
        self.converter = ColumnConverter(source.mapping, table.headers, source.zone)
        self.width = len(table.headers)

    def chunks(self) -> Iterator[ParsedChunk]:
        """Each cut's text parsed by pyarrow on a thread while the previous cut is converted here: pyarrow's
        ``read_csv`` releases the GIL, and the parsing process had become the import's slower side."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv") as parsing:
            held: tuple[_Cut, Future[Any]] | None = None
            for cut in _cuts(self.source.path, self.offset, self.source.chunk_size, self.delimiter):
                if cut.stop:
                    if held is not None:
                        yield self._chunk(*held)
                    yield from self._old_way(cut.offset, cut.last)
                    return
                parsed = parsing.submit(self._table, cut)
                if held is not None:
                    yield self._chunk(*held)
                held = cut, parsed
            if held is not None:
                yield self._chunk(*held)

    def _table(self, cut: _Cut) -> Any:
        return None if _odd(cut.data) else _parse(cut.data, self.delimiter, self.width, quoted=cut.quoted)

    def _chunk(self, cut: _Cut, parsed: Future[Any]) -> ParsedChunk:
        table = parsed.result()
        if table is None or table.num_rows != len(cut.numbers):
            rows = list(csv_rows(text_of(cut.data), self.delimiter, cut.last))
            columns = self.converter.convert(rows)
            return ParsedChunk(len(rows), columns.rejected, prepare_columns(columns))
        raws = _Raws(table)
        given = arrow_columns(table, self.converter, self.source.mapping)
        columns = self.converter.convert_columns(cut.numbers, raws, raws.column, given)
        return ParsedChunk(len(cut.numbers), columns.rejected, prepare_columns(columns))

    def _old_way(self, offset: int, last: int) -> Iterator[ParsedChunk]:
        with self.source.path.open("rb") as handle:
            handle.seek(offset)
            text = io.TextIOWrapper(handle, encoding="utf-8", errors="surrogateescape", newline="")
            for chunk in batched(csv_rows(text, self.delimiter, last), self.source.chunk_size):
                columns = self.converter.convert(chunk)
                yield ParsedChunk(len(chunk), columns.rejected, prepare_columns(columns))


def _odd(data: bytes) -> bool:
    """A NUL byte: read the old way (what ``csv`` makes of it is its own)."""
    return b"\x00" in data


def _cuts(path: Path, offset: int, size: int, delimiter: str) -> Iterator[_Cut]:
    """The file from ``offset`` cut after every ``size`` non-empty lines (see :class:`_Cut`)."""
    last = 1
    with path.open("rb") as handle:
        handle.seek(offset)
        buffer, eof, newlines = b"", False, 0  # the line breaks in ``buffer`` (until the end of the file)

        def more() -> None:
            nonlocal buffer, eof, newlines
            block = handle.read(_BLOCK)
            eof, buffer, newlines = not block, buffer + block, newlines + block.count(b"\n")

        while True:
            while not eof and newlines < size:
                more()
            cut = _plain_cut(buffer, size, eof)
            if cut is None:  # blank lines: counted, not rows
                lines = _Lines(buffer, eof)
                while not eof and len(lines.full) < size:
                    more()
                    lines = _Lines(buffer, eof)
                stop, end = lines.cut(size)
                numbers = (lines.full[lines.full < stop] + last + 1).tolist()
            else:
                stop, end = cut
                numbers = list(range(last + 1, last + 1 + stop))
            if not numbers:  # the end of the file (blank lines at most)
                return
            data = buffer[:end]
            quoted = b'"' in data
            if _lone_cr(data) or (quoted and not _clean_quotes(data, delimiter)):
                yield _Cut(b"", [], last, True, offset)
                return
            yield _Cut(data, numbers, last, False, offset, quoted)
            offset, last, buffer, newlines = offset + end, last + stop, buffer[end:], newlines - stop


def _lone_cr(data: bytes) -> bool:
    """Whether ``data`` holds a carriage return not followed by a line feed: looked for only when it holds one,
    then by numpy (2.5 against 6.6 ms for a 3.6 MB chunk of a CRLF file with two ``bytes.count`` scans)."""
    if b"\r" not in data:
        return False
    import numpy as np

    raw = np.frombuffer(data, np.uint8)
    at = np.flatnonzero(raw == 13)
    return bool(at[-1] == len(raw) - 1 or (raw[at + 1] != 10).any())


def _line_pattern(delimiter: str) -> bytes:
    """A line that is one record however it is read: fields unquoted (no quote, CR, LF or NUL) or wholly quoted
    (inner quotes doubled, no CR, LF or NUL), a quoted one ending at a delimiter or the line's end. Python's
    ``csv`` and pyarrow's parser read such a line the same: the same fields, the quotes undone."""
    d = _ESCAPED[delimiter]
    field = rb'(?:"(?:[^"\r\n\x00]|"")*"|[^"\r\n\x00' + d + rb"]*)"
    return field + rb"(?:" + d + field + rb")*"


_ESCAPED = {",": b",", ";": b";", "\t": rb"\t", "|": rb"\|"}


def _clean_quotes(data: bytes, delimiter: str) -> bool:
    """Whether every line of ``data`` is a :func:`_line_pattern` line (one scan of RE2 over the bytes)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    line = _line_pattern(delimiter)
    pattern = b"^(?:" + line + rb"\r?\n)*(?:" + line + b")?$"
    return bool(pc.match_substring_regex(pa.array([data], pa.binary()), pattern.decode()).to_pylist()[0])


def _plain_cut(buffer: bytes, size: int, eof: bool) -> tuple[int, int] | None:
    """(lines, bytes) of the next chunk when its lines are all non-empty (``size`` of them, fewer at the end of
    the file), else None."""
    parts = buffer.split(b"\n", size)
    if len(parts) > size:
        lines, end = parts[:size], len(buffer) - len(parts[size])
    elif eof:
        lines, end = (parts if parts[-1] else parts[:-1]), len(buffer)
    else:
        return None
    if b"" in lines or b"\r" in lines:
        return None
    return len(lines), end


class _Lines:
    """The complete lines of ``buffer`` (the last one too at the end of the file): where each ends (its ``\\n``
    or the end of the file) and which hold something (``full``: indexes of lines not empty, ``\\r\\n`` counting as
    empty)."""

    def __init__(self, buffer: bytes, eof: bool) -> None:
        import numpy as np

        raw = np.frombuffer(buffer, np.uint8)
        ends = np.flatnonzero(raw == 10)
        if eof and len(raw) and (not len(ends) or ends[-1] != len(raw) - 1):
            ends = np.append(ends, len(raw))
        starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else ends
        lengths = ends - starts
        if len(ends) and b"\r" in buffer:
            inner = lengths > 0
            inner[inner] = raw[ends[inner] - 1] == 13
            lengths = lengths - inner
        self.ends, self.full, self.size = ends, np.flatnonzero(lengths > 0), len(raw)

    def cut(self, size: int) -> tuple[int, int]:
        """(lines, bytes) of the next chunk: up to and including its ``size``-th non-empty line, or all."""
        stop = len(self.ends) if len(self.full) <= size else int(self.full[size - 1]) + 1
        return stop, min(int(self.ends[stop - 1]) + 1, self.size) if stop else 0


def _parse(data: bytes, delimiter: str, width: int, *, quoted: bool = False) -> Any:
    """The chunk as a pyarrow table of text columns, or None when pyarrow refuses it (read the old way); with
    ``quoted``, quotes are read as ``csv`` reads them (the caller checked they are clean: :func:`_clean_quotes`)."""
    import pyarrow as pa
    import pyarrow.csv as pv

    names = [f"c{i}" for i in range(width)]
    read = pv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 24)
    parse = pv.ParseOptions(delimiter=delimiter, quote_char='"' if quoted else False, double_quote=quoted,
                            escape_char=False, newlines_in_values=False, ignore_empty_lines=True)  # fmt: skip
    convert = pv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False)
    try:
        return pv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowException):
        return None


class _Raws(Sequence[list[Any]]):
    """A parsed chunk's rows as lists of raw values, built when asked for (rejected rows, extras)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.cache: dict[int, list[Any]] = {}

    def column(self, index: int) -> list[Any]:
        """The raw values of column ``index`` (a list of its own)."""
        return list(self._values(index))

    def _values(self, index: int) -> list[Any]:
        values = self.cache.get(index)
        if values is None:
            values = self.cache[index] = self.table.column(index).to_pylist()
        return values

    def __len__(self) -> int:
        return int(self.table.num_rows)

    @overload
    def __getitem__(self, index: int) -> list[Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[list[Any]]: ...

    def __getitem__(self, index: int | slice) -> list[Any] | list[list[Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return [self._values(i)[index] for i in range(self.table.num_columns)]
