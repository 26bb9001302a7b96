"""Helpers for the incremental-scoring tests: compare two scorings of one lead, number by number."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from funnelbridge.scoring.results import GroupScore


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-9)
    return bool(a == b)


def assert_same(inc: Sequence[GroupScore], ref: Sequence[GroupScore]) -> None:
    """Every group, every number (to 1e-9), every band and the explanation line by line."""
    assert len(inc) == len(ref)
    for a, b in zip(inc, ref, strict=True):
        for key in ("fit", "engagement", "negative", "total"):
            assert _close(getattr(a, key), getattr(b, key)), (key, a, b)
        assert (a.group, a.grade, a.temperature, a.quadrant, a.mql_eligible, a.as_of, a.playbook_version) == (
            b.group, b.grade, b.temperature, b.quadrant, b.mql_eligible, b.as_of, b.playbook_version,
        )  # fmt: skip
        ia, ib = a.explanation_json(), b.explanation_json()
        assert [i["rule"] for i in ia] == [i["rule"] for i in ib]
        for x, y in zip(ia, ib, strict=True):
            assert set(x) == set(y) and all(_close(x[k], y[k]) for k in x), (x, y)
