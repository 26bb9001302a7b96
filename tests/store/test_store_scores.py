from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from funnelbridge.scoring.results import RulePoints
from funnelbridge.store.scores import explanation_json

_maybe_text = st.none() | st.text(max_size=8)
_maybe_float = st.none() | st.floats(allow_nan=False)
lines = st.builds(
    RulePoints,
    rule=st.text(max_size=8),
    kind=st.sampled_from(["fit", "engagement", "negative"]),
    points=st.floats(allow_nan=False),
    raw_points=_maybe_float,
    events=st.none() | st.integers(0, 100),
    half_life_days=_maybe_float,
    halves_at=_maybe_text,
    expires_at=_maybe_text,
)


@given(st.lists(lines, max_size=6))
def test_explanation_json_is_each_lines_dict_in_order(items: list[RulePoints]) -> None:
    expected = [item.to_dict() for item in items]
    got = explanation_json(items)
    assert got == expected
    assert [list(d) for d in got] == [list(d) for d in expected]  # the same keys in the same order
    assert explanation_json(items) == expected  # remembered lines give the same again
