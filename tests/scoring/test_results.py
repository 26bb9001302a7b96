"""Score results: the explanation built on first use behaves as the tuple of its lines."""

from __future__ import annotations

import pickle

import pytest

from funnelbridge.scoring.results import Explanation, RulePoints

LINES = (RulePoints("a", "fit", 5.0), RulePoints("b", "engagement", 2.5, 2.5, 1, 7.0, "2025-01-08T00:00:00+00:00"))


def _lazy(calls: list[int]) -> Explanation:
    def build(*lines: RulePoints) -> list[RulePoints]:
        calls.append(1)
        return list(lines)

    return Explanation(build=build, args=LINES)


def test_lazy_lines_are_built_once_on_first_read() -> None:
    calls: list[int] = []
    lazy = _lazy(calls)
    assert calls == []
    assert len(lazy) == 2 and lazy[1].rule == "b" and lazy[:1] == LINES[:1]
    assert list(lazy) == list(LINES) and lazy.lines == LINES
    assert calls == [1]


@pytest.mark.parametrize("given", [Explanation(LINES), _lazy([])])
def test_equal_to_the_tuple_of_its_lines(given: Explanation) -> None:
    assert given == LINES and LINES == given and given == list(LINES)  # noqa: SIM300 (the reflected comparison)
    assert given != LINES[:1] and given != ()
    assert hash(given) == hash(LINES)
    assert bool(given) and not Explanation()
    assert repr(given) == f"Explanation({LINES!r})"
    assert pickle.loads(pickle.dumps(given)) == LINES
    assert given.__eq__("text") is NotImplemented
