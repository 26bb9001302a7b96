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


@pytest.mark.parametrize(
    ("fit", "engagement", "negative"), [(0.0, 0.0, 0.0), (80.0, 75.0, -5.0), (30.0, 50.0, 0.0), (12.5, 40.0, -100.0)]
)
def test_group_score_is_the_classified_dataclass(fit: float, engagement: float, negative: float) -> None:
    from dataclasses import FrozenInstanceError
    from datetime import UTC, datetime

    from rule_helpers import playbook

    from funnelbridge.scoring.results import GroupScore, classify, group_score

    scoring = playbook({"mql": {"grades": ["A", "B"], "engagement": 50, "total": 60}}).scoring
    at = datetime(2025, 3, 1, tzinfo=UTC)
    got = group_score(scoring, 7, "main", fit, engagement, negative, at, "v1", LINES)
    c = classify(scoring, fit, engagement, negative)
    want = GroupScore(
        7, "main", fit, engagement, negative, c.total, c.grade, c.temperature, c.quadrant, c.mql_eligible, at, "v1",
        LINES,
    )  # fmt: skip
    assert got == want and hash(got) == hash(want) and repr(got) == repr(want)
    assert c.total == fit + engagement + negative and c.grade == scoring.grade(fit)
    with pytest.raises(FrozenInstanceError):
        got.total = 0.0  # type: ignore[misc]
