from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert

from funnelbridge.scoring.results import GroupScore, RulePoints
from funnelbridge.store.db import Database
from funnelbridge.store.scores import explanation_json, json_text, score_row, upsert_scores
from funnelbridge.store.tables import contacts

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


_json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


@given(_json_data)
def test_json_text_is_json_dumps(value: object) -> None:
    assert json_text(value) == json.dumps(value)


def test_upsert_scores_stores_json_text_as_the_dicts_would_be(sqlite_db: Database) -> None:
    """On SQLite a row's explanation and state given as JSON text (the activity flow's form) store exactly what
    the dicts store."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    line = RulePoints("visits", "engagement", 2.5, raw_points=3.0, events=2, half_life_days=7.0, halves_at="x")
    score = GroupScore(
        contact_id=0, group="main", fit=1.0, engagement=2.5, negative=0.0, total=3.5, grade="B",
        temperature="warm", quadrant="nurture_fit", mql_eligible=False, explanation=(line,), as_of=at,
        playbook_version="v1",
    )  # fmt: skip
    state = {"f": 2, "v": "v1", "t": 1, "n": 2, "w": 9, "r": [[0, 1, True, 7, 1, 1, 2.0, 1.5, 3, []]], "a": []}
    stored = []
    with sqlite_db.transaction() as conn:
        for cid, as_text in ((1, False), (2, True)):
            conn.execute(insert(contacts).values(id=cid, created_at=at, updated_at=at))
            row = score_row(replace(score, contact_id=cid), at, as_text=as_text)
            row["state"] = json_text(state) if as_text else state
            upsert_scores(conn, [row])
            raw = conn.exec_driver_sql("SELECT * FROM scores WHERE contact_id = ?", (cid,)).one()
            stored.append(tuple(raw)[1:])
    assert stored[0] == stored[1]
