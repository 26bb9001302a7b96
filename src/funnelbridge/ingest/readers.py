"""Reading tabular input: CSV (any common delimiter, UTF-8 with or without BOM) and Parquet, as a header plus
numbered rows of raw values, streamed (never the whole file in memory).

Bytes that are not valid UTF-8 are kept (as surrogate escapes) so the row can be rejected with a reason instead
of aborting the import; rows are numbered like a spreadsheet (header = row 1).
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from funnelbridge.errors import InputError

__all__ = ["Table", "csv_rows", "file_digest", "open_table", "text_of"]

_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)  # huge cells are read whole and rejected by the field's own limit
_DELIMITERS = ",;\t|"
_SAMPLE = 65536  # characters read to pick the delimiter and estimate the size


@dataclass
class Table:
    """A header and an iterator of ``(row number, values)``; close it when done. ``size_hint`` estimates the
    number of data rows (from the file size and the first rows of a CSV, exact for Parquet), or is None."""

    headers: list[str]
    rows: Iterator[tuple[int, list[Any]]]
    close: Any
    size_hint: int | None = None
    delimiter: str | None = None
    """The CSV's delimiter (None for Parquet)."""


def file_digest(path: Path) -> str:
    """SHA-256 of a file (identifies an input across runs)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_headers(headers: list[str], path: Path) -> list[str]:
    headers = [h.strip() for h in headers]
    if not any(headers):
        raise InputError("the first row holds no column names", record=str(path))
    seen: set[str] = set()
    for header in headers:
        if header in seen:
            raise InputError(f"column {header!r} appears twice in the header", record=str(path))
        seen.add(header)
    return headers


def _delimiter(sample: str) -> str:
    first = sample.split("\n", 1)[0]
    counts = {d: first.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _estimate_rows(path: Path, sample: str) -> int | None:
    """Data rows of a CSV estimated from its size and the mean length of the lines in ``sample`` (its start)."""
    whole = len(sample) < _SAMPLE
    lines = sample.count("\n") + (whole and not sample.endswith("\n"))
    if whole or lines < 2:
        return max(0, lines - 1) if whole else None
    head, body = sample.split("\n", 1)
    body = body[: body.rindex("\n") + 1]
    size = path.stat().st_size - len(head.encode("utf-8", "surrogateescape")) - 1
    return round(size * (lines - 1) / len(body.encode("utf-8", "surrogateescape")))


def _open_csv(path: Path, encoding: str) -> Table:
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)
    handle = path.open("r", encoding=encoding, errors="surrogateescape", newline="")
    sample = handle.read(_SAMPLE)
    handle.seek(0)
    reader = csv.reader(handle, delimiter=_delimiter(sample))
    try:
        headers = next(reader)
    except StopIteration:
        handle.close()
        raise InputError("the file is empty (no header row)", record=str(path)) from None
    except csv.Error as exc:
        handle.close()
        raise InputError(f"cannot read the header: {exc}", record=str(path)) from None

    delimiter = reader.dialect.delimiter
    return Table(_check_headers(headers, path), _numbered(reader, 1), handle.close, _estimate_rows(path, sample),
                 delimiter)  # fmt: skip


def _numbered(reader: Iterator[list[str]], last: int) -> Iterator[tuple[int, list[Any]]]:
    """The records of ``reader`` numbered from ``last + 1``: every record counts, empty ones too (they are not
    yielded); a record the reader cannot parse is yielded as ``[csv.Error]``."""
    while True:
        try:
            for number, row in enumerate(reader, last + 1):
                last = number
                if row:
                    yield number, row
            return
        except csv.Error as exc:
            last += 1
            yield last, [csv.Error(str(exc))]


def csv_rows(lines: Iterable[str], delimiter: str, last: int) -> Iterator[tuple[int, list[Any]]]:
    """The records of a CSV's data part (``lines``, read with ``newline=""``), numbered from ``last + 1`` as
    :func:`open_table` numbers them: what :mod:`funnelbridge.ingest.arrowcsv` reads the old way."""
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)
    return _numbered(csv.reader(lines, delimiter=delimiter), last)


def text_of(data: bytes) -> io.StringIO:
    """Bytes of a CSV decoded as :func:`open_table` decodes a UTF-8 file (bad bytes kept as surrogate escapes)."""
    return io.StringIO(data.decode("utf-8", "surrogateescape"), newline="")


def _open_parquet(path: Path) -> Table:
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(f"not a readable Parquet file: {exc}", record=str(path)) from None
    headers = list(source.schema_arrow.names)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        number = 1
        for batch in source.iter_batches(batch_size=10_000):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            for values in zip(*columns, strict=True):
                number += 1
                yield number, list(values)

    return Table(_check_headers(headers, path), rows(), source.close, source.metadata.num_rows)


def open_table(path: str | Path, *, encoding: str = "utf-8") -> Table:
    """Open a CSV or Parquet file (by suffix: ``.parquet``/``.pq`` is Parquet, anything else CSV)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", record=str(path))
    if path.suffix.lower() in (".parquet", ".pq"):
        return _open_parquet(path)
    return _open_csv(path, "utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding)
