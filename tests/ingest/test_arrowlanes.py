"""The pyarrow lanes' byte scans (funnelbridge.ingest.arrowlanes) decide exactly what the RE2 scans they replaced
decided: a text, email or time column is taken (and gives the same values) or left to the converter alike — on
random columns (hypothesis), the RE2 versions kept here as the reference."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelbridge.ingest.arrowlanes import _ADDRESS, _ANY_TIME, _SPACE, _TIMES, _emails, _stamps, _texts

_EDGES = rf"^[{_SPACE}]|[{_SPACE}]$|\x00"
_ODD_EDGES = r"^[^\x21-\x7e]|[^\x21-\x7e]$|\x00"


def _texts_re2(column: Any, limit: int) -> list[Any] | None:
    if pc.max(pc.utf8_length(column)).as_py() > limit or pc.any(pc.match_substring_regex(column, _ODD_EDGES)).as_py():
        return None
    values = column.to_pylist()
    return [v or None for v in values] if "" in values else values


def _emails_re2(column: Any) -> list[Any] | None:
    if not pc.all(pc.string_is_ascii(column)).as_py() or pc.max(pc.binary_length(column)).as_py() > 320:
        return None
    if pc.any(pc.match_substring_regex(column, _EDGES)).as_py():
        return None
    lowered = pc.ascii_lower(column)
    if not pc.all(pc.match_substring_regex(lowered, f"^$|{_ADDRESS}")).as_py():
        return None
    values = lowered.to_pylist()
    return [v or None for v in values] if "" in values else values


def _stamps_re2(column: Any) -> list[Any] | None:
    if not pc.all(pc.match_substring_regex(column, _ANY_TIME)).as_py():
        return None
    for pattern, replacement in _TIMES:
        column = pc.replace_substring_regex(column, pattern=pattern, replacement=replacement)
    return column.to_pylist()  # type: ignore[no-any-return]


_EDGE_CHARS = ["a", "Z", "~", "!", " ", "\t", "\n", "\x0b", "\x1c", "\x1f", "\x00", "\x7f", "\x80", "é", "\u2003", "@"]
_TEXT = st.text(st.sampled_from([*_EDGE_CHARS, "x", "y", "."]), max_size=6)
_EMAIL = st.one_of(
    st.builds("".join, st.lists(st.sampled_from([*_EDGE_CHARS, "ab", "@", "x.example", "A", "-"]), max_size=5)),
    st.sampled_from(["", "a@x.example", "B@X.Example", "c@x-y.example", " a@x.example", "a@x.example\t"]),
)
_DIGIT = st.sampled_from("0123456789")
_ODD = st.sampled_from(["0", "9", "a", " ", "/", ":", "-", "T", "Z", "+", "."])


@st.composite
def _time(draw: st.DrawFn, width: int, fraction: int, suffix: str) -> str:
    """A time text of a file written by one program: the layout fixed, the digits drawn, sometimes a byte off."""
    layout = f"dddd-dd-ddTdd:dd:dd{'.' + 'd' * fraction if fraction else ''}{suffix}"
    chars = [draw(_DIGIT) if c == "d" else c for c in layout]
    if draw(st.integers(0, 9)) == 0:
        chars[draw(st.integers(0, len(chars) - 1))] = draw(_ODD)
    text = "".join(chars)
    return text[:width] if draw(st.integers(0, 19)) == 0 else text


@st.composite
def _times(draw: st.DrawFn) -> list[str]:
    fraction, suffix = draw(st.sampled_from([0, 3, 6, 4])), draw(st.sampled_from(["Z", "+00:00", "+01:00", "z", ""]))
    one = _time(99, fraction, suffix)
    other = _time(99, draw(st.sampled_from([0, 3, 6])), draw(st.sampled_from(["Z", "+00:00"])))
    mixed = draw(st.booleans()) and draw(st.integers(0, 4)) == 0
    return draw(st.lists(st.one_of(one, other) if mixed else one, min_size=1, max_size=8))


def _column(values: list[str], sliced: bool) -> Any:
    """The values as pyarrow reads a chunk's column (one piece), or as a slice of a longer array (an offset)."""
    if sliced:
        return pa.chunked_array([pa.array(["pad", *values], pa.string()).slice(1)])
    return pa.chunked_array([pa.array(values, pa.string())])


@settings(max_examples=400, deadline=None)
@given(values=st.lists(_TEXT, min_size=1, max_size=8), limit=st.sampled_from([2, 5, 100]), sliced=st.booleans())
def test_the_text_lane_takes_what_the_re2_scan_took(values: list[str], limit: int, sliced: bool) -> None:
    column = _column(values, sliced)
    assert _texts(column, limit) == _texts_re2(column, limit)


@settings(max_examples=400, deadline=None)
@given(values=st.lists(_EMAIL, min_size=1, max_size=8), sliced=st.booleans())
def test_the_email_lane_takes_what_the_re2_scan_took(values: list[str], sliced: bool) -> None:
    column = _column(values, sliced)
    assert _emails(column) == _emails_re2(column)


@settings(max_examples=400, deadline=None)
@given(values=_times(), sliced=st.booleans())
def test_the_time_lane_takes_what_the_re2_scan_took(values: list[str], sliced: bool) -> None:
    column = _column(values, sliced)
    assert _stamps(column) == _stamps_re2(column)


def test_clean_times_of_one_width_give_their_sqlite_texts() -> None:
    for texts, want in [
        (
            ["2025-01-31T00:00:03Z", "1999-12-31T23:59:59Z"],
            ["2025-01-31 00:00:03.000000", "1999-12-31 23:59:59.000000"],
        ),
        (["2025-01-31T00:00:03.120+00:00"], ["2025-01-31 00:00:03.120000"]),
        (["2025-01-31T00:00:03.123456Z"], ["2025-01-31 00:00:03.123456"]),
    ]:
        assert _stamps(_column(texts, False)) == want
    assert _stamps(_column(["2025-01-31T00:00:03Z", "2025-01-31T00:00:03+00:00"], False)) == [
        "2025-01-31 00:00:03.000000",
        "2025-01-31 00:00:03.000000",
    ]  # two widths: the RE2 way
    assert _stamps(_column(["2025-01-31T00:00:03+01:00"], False)) is None
