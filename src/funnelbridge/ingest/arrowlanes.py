"""Columns converted in pyarrow for :mod:`funnelbridge.ingest.arrowcsv`, only where the result is provably what
the column-wise converter gives (:mod:`funnelbridge.ingest.columnar`); anything else is left to it.

- A text column whose values all begin and end with a visible ASCII character (or are empty), hold no NUL and
  are no longer than the field's limit: the values (blank → None), as ``columnar``'s text lane.
- An email column whose values are all ASCII, without NUL or blanks at either end, at most 320 characters, and
  lower-cased all match the address pattern: the lower-cased values (blank → None), as ``columnar``'s email lane.
- The occurred-at column when every value is ``YYYY-MM-DDTHH:MM:SS`` with no fraction or 3 or 6 digits of one and
  ``Z`` or ``+00:00``: the SQLite text of each time (``YYYY-MM-DD HH:MM:SS.ffffff``, what
  :func:`~funnelbridge.store.bulk.sqlite_time` makes of the parsed value) taken from the text itself, carried along
  as :data:`STAMPS` (a value that is no valid time rejects its row, whose text is then never used).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from funnelbridge.ingest.columnar import ColumnConverter
from funnelbridge.ingest.columns import ColumnMapping

__all__ = ["STAMPS", "arrow_columns"]

STAMPS = "occurred_at:stamp"
"""The name the occurred-at column's SQLite texts are carried under (:func:`arrow_columns`)."""

_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f "  # the ASCII characters str.strip() and re's \s take for blanks
_ADDRESS = (rf"^[^@{_SPACE}<>(),;:\"\[\]\\\x00]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
            r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")  # fmt: skip
_DAY_TIME = r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})"
_UTC = r"(?:Z|\+00:00)$"
_TIMES = ((rf"{_DAY_TIME}{_UTC}", r"\1 \2.000000"), (rf"{_DAY_TIME}\.(\d{{3}}){_UTC}", r"\1 \2.\3000"),
          (rf"{_DAY_TIME}\.(\d{{6}}){_UTC}", r"\1 \2.\3"))  # fmt: skip
_ANY_TIME = rf"{_DAY_TIME}(?:\.\d{{3}}|\.\d{{6}})?{_UTC}"


def arrow_columns(table: Any, converter: ColumnConverter, mapping: ColumnMapping) -> dict[str, list[Any]]:
    """The columns of a parsed chunk (a pyarrow table of text columns) converted here, by field name."""
    out: dict[str, list[Any]] = {}
    if not table.num_rows:
        return out
    for index, name, *_ in converter.lanes:
        type_ = mapping.specs[name].type
        if type_.startswith("text:"):
            texts = _texts(table.column(index), int(type_.split(":", 1)[1]))
            if texts is not None:
                out[name] = texts
        elif type_ == "email":
            emails = _emails(table.column(index))
            if emails is not None:
                out[name] = emails
        elif name == "occurred_at":
            stamps = _stamps(table.column(index))
            if stamps is not None:
                out[STAMPS] = stamps
    return out


def _texts(column: Any, limit: int) -> list[Any] | None:
    array = _single(column)
    offsets, raw, lengths = _layout(array)
    if lengths.max() > limit:  # bytes: a bound of the characters, counted only then
        import pyarrow.compute as pc

        if pc.max(pc.utf8_length(array)).as_py() > limit:
            return None
    if not _clean_edges(offsets, raw, lengths, _VISIBLE):
        return None
    return _values(array, lengths)


def _emails(column: Any) -> list[Any] | None:
    import pyarrow.compute as pc

    array = _single(column)
    offsets, raw, lengths = _layout(array)
    if lengths.max() > 320 or (len(raw) and raw.max() > 0x7F):  # long, or not all ASCII
        return None
    if not _clean_edges(offsets, raw, lengths, _UNSPACED):
        return None
    lowered = pc.ascii_lower(array)
    if not pc.all(pc.match_substring_regex(lowered, f"^$|{_ADDRESS}")).as_py():  # no pyarrow scalar: it imports pandas
        return None
    return _values(lowered, lengths)


def _stamps(column: Any) -> list[Any] | None:
    import pyarrow.compute as pc

    array = _single(column)
    fixed = _fixed_stamps(*_layout(array))
    if fixed is not None:
        return _values(fixed, None)
    if not pc.all(pc.match_substring_regex(array, _ANY_TIME)).as_py():
        return None
    for pattern, replacement in _TIMES:
        array = pc.replace_substring_regex(array, pattern=pattern, replacement=replacement)
    return array.to_pylist()  # type: ignore[no-any-return]


# Byte scans of a text column's Arrow buffers (numpy; a tenth of the CPU of the RE2 scans they replace, measured
# at 0.2-0.6 ms against 3.6-5.4 ms a column of 50,000 values). pyarrow checked the chunk is valid UTF-8, so a
# value's first and last bytes are ASCII exactly when its first and last characters are, and are those characters.


def _single(column: Any) -> Any:
    """A chunk's column as one array (pyarrow reads a chunk in one block: its one piece)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _layout(array: Any) -> tuple[Any, Any, Any]:
    """(offsets, bytes, byte lengths) of a string array without nulls, as numpy arrays over its buffers."""
    import numpy as np

    _, offsets, data = array.buffers()
    ends = np.frombuffer(offsets, np.int32, len(array) + 1, offset=array.offset * 4)
    raw = np.frombuffer(data, np.uint8) if data is not None and data.size else np.zeros(0, np.uint8)
    return ends, raw[ends[0] : ends[-1]], np.diff(ends)


def _clean_edges(offsets: Any, raw: Any, lengths: Any, edge: Any) -> bool:
    """Whether every non-empty value begins and ends with a byte ``edge`` allows and no value holds a NUL."""
    if not raw.all():
        return False
    full = lengths > 0
    starts = offsets[:-1][full] - offsets[0]
    table = _table(edge)
    return bool(table[raw[starts]].all() and table[raw[starts + lengths[full] - 1]].all())


_VISIBLE = bytes(range(0x21, 0x7F))
"""What a text may begin and end with: visible ASCII (any other first or last character: the converter's)."""
_UNSPACED = bytes(b for b in range(0x80) if chr(b) not in "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f ")
"""What an (ASCII) email may begin and end with: no blank that ``str.strip()`` takes."""


@lru_cache(maxsize=4)
def _table(allowed: bytes) -> Any:
    """A lookup table of the 256 byte values: True for those in ``allowed``."""
    import numpy as np

    table = np.zeros(256, bool)
    table[list(allowed)] = True
    return table


def _values(array: Any, lengths: Any | None) -> list[Any]:
    """The array's values as a list, an empty text as None (marked null in Arrow: no pass over the list)."""
    if lengths is None or lengths.all():
        return array.to_pylist()  # type: ignore[no-any-return]
    import numpy as np
    import pyarrow as pa

    _, offsets, data = array.buffers()
    given = np.concatenate((np.zeros(array.offset, bool), lengths > 0)) if array.offset else lengths > 0
    valid = pa.py_buffer(np.packbits(given, bitorder="little"))
    return pa.Array.from_buffers(pa.string(), len(array), [valid, offsets, data], offset=array.offset).to_pylist()  # type: ignore[no-any-return]


_FORMS = {20: (0, b"Z"), 25: (0, b"+00:00"), 24: (3, b"Z"), 29: (3, b"+00:00"), 27: (6, b"Z"), 32: (6, b"+00:00")}
"""The byte widths of the times :data:`_ANY_TIME` takes: (digits of the fraction, suffix) — each width one form."""
_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_MARKS = ([4, 7, 10, 13, 16], list(b"--T::"))


def _fixed_stamps(offsets: Any, raw: Any, lengths: Any) -> Any | None:
    """:func:`_stamps`'s texts when every time has one width of :data:`_FORMS` (a file written by one program):
    checked and rewritten as a byte matrix, one row a time; None for any other column (the RE2 way then)."""
    import numpy as np
    import pyarrow as pa

    width, count = int(lengths[0]), len(lengths)
    form = _FORMS.get(width)
    if form is None or count * 26 >= 1 << 31 or (lengths != width).any():
        return None
    digits, suffix = form
    m = raw.reshape(count, width)
    numeric = [*_DIGITS, *range(20, 20 + digits)]
    if ((m[:, numeric] - 48) > 9).any() or (m[:, _MARKS[0]] != _MARKS[1]).any():
        return None
    if (digits and (m[:, 19] != 46).any()) or (m[:, width - len(suffix) :] != list(suffix)).any():
        return None
    out = np.full((count, 26), 48, np.uint8)  # YYYY-MM-DD HH:MM:SS.ffffff, the fraction padded with zeros
    out[:, :19], out[:, 10], out[:, 19] = m[:, :19], 32, 46
    out[:, 20 : 20 + digits] = m[:, 20 : 20 + digits]
    ends = pa.py_buffer(np.arange(0, 26 * (count + 1), 26, dtype=np.int32))
    return pa.Array.from_buffers(pa.string(), count, [None, ends, pa.py_buffer(out)])
