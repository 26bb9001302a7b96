"""The batch scorer's text kernels print what json.dumps/isoformat would, without per-row Python."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from funnelbridge.scoring.batch_events import micros
from funnelbridge.scoring.batch_text import empty_explanations, iso_texts, number_texts

VALUES = [0.0, 0.5, 3.0, 10.0, 2.5e-7, 1 / 3, 2 / 3 * 40, 123456.789, 0.1 + 0.2, 5e8, 4e-10]


def _texts(values: list[float]) -> list[str]:
    whole, frac = number_texts(np.array(values))
    return [a + b for a, b in zip(whole.to_pylist(), frac.to_pylist(), strict=True)]


def test_numbers_read_back_as_the_value_to_nine_decimals() -> None:
    for value, text in zip(VALUES, _texts(VALUES), strict=True):
        assert json.loads(text) == pytest.approx(value, abs=1e-9), text
        expected = f"{value:.9f}".rstrip("0")
        assert text == (expected + "0" if expected.endswith(".") else expected)


def test_numbers_out_of_the_fast_range_still_read_back_exactly() -> None:
    values = [1e12, 3.0, 0.1, float("1e300")]
    assert [json.loads(t) for t in _texts(values)] == values


def test_numbers_of_whole_values_keep_one_decimal_like_json_dumps() -> None:
    assert _texts([0.0, 10.0, 3.0]) == ["0.0", "10.0", "3.0"]


def test_times_print_as_isoformat_with_microseconds_only_when_present() -> None:
    base = datetime(2025, 3, 30, 1, 59, 59, tzinfo=UTC)
    times = [base, base + timedelta(microseconds=7), datetime(1999, 12, 31, 23, 0, tzinfo=UTC)]
    never = np.iinfo(np.int64).max
    texts = iso_texts(np.array([micros(t) for t in times] + [never])).to_pylist()
    assert texts == [f', "expires_at": "{t.isoformat()}"' for t in times] + [""]


def test_no_explanations_are_empty_lists() -> None:
    assert empty_explanations(3).to_pylist() == ["[]", "[]", "[]"]
