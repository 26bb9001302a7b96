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

from typing import Any

from funnelbridge.ingest.columnar import ColumnConverter
from funnelbridge.ingest.columns import ColumnMapping

__all__ = ["STAMPS", "arrow_columns"]

STAMPS = "occurred_at:stamp"
"""The name the occurred-at column's SQLite texts are carried under (:func:`arrow_columns`)."""

_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f "  # the ASCII characters str.strip() and re's \s take for blanks
_EDGES = rf"^[{_SPACE}]|[{_SPACE}]$|\x00"
_ODD_EDGES = r"^[^\x21-\x7e]|[^\x21-\x7e]$|\x00"  # a first or last character other than visible ASCII, or a NUL
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
    import pyarrow.compute as pc

    if pc.max(pc.utf8_length(column)).as_py() > limit or pc.any(pc.match_substring_regex(column, _ODD_EDGES)).as_py():
        return None
    values = column.to_pylist()
    return [v or None for v in values] if "" in values else values


def _emails(column: Any) -> list[Any] | None:
    import pyarrow.compute as pc

    if not pc.all(pc.string_is_ascii(column)).as_py() or pc.max(pc.binary_length(column)).as_py() > 320:
        return None
    if pc.any(pc.match_substring_regex(column, _EDGES)).as_py():
        return None
    lowered = pc.ascii_lower(column)
    if not pc.all(pc.match_substring_regex(lowered, f"^$|{_ADDRESS}")).as_py():  # no pyarrow scalar: it imports pandas
        return None
    values = lowered.to_pylist()
    return [v or None for v in values] if "" in values else values


def _stamps(column: Any) -> list[Any] | None:
    import pyarrow.compute as pc

    if not pc.all(pc.match_substring_regex(column, _ANY_TIME)).as_py():
        return None
    for pattern, replacement in _TIMES:
        column = pc.replace_substring_regex(column, pattern=pattern, replacement=replacement)
    return column.to_pylist()  # type: ignore[no-any-return]
