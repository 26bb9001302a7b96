"""bulkplain.plan_plain groups a plain chunk's rows exactly as the plain dictionary-of-tuples grouping does (kept
here as the reference): groups in order of first appearance, each group's least row, each row's group — on random
chunks (hypothesis) whose identifiers repeat across rows and kinds (an email equal to an anonymous id too)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from funnelbridge.ingest.bulkplain import ANON, EMAIL, USER, PlainPlan, plan_plain


def _reference(columns: list[list[Any]]) -> PlainPlan:
    idents = [("email", e) if e is not None else ("external", u) if u is not None else ("anon", a)
              for e, u, a in zip(columns[EMAIL], columns[USER], columns[ANON], strict=True)]  # fmt: skip
    groups = list(dict.fromkeys(idents))
    where = {ident: group for group, ident in enumerate(groups)}
    index = [where[ident] for ident in idents]
    first = [index.index(group) for group in range(len(groups))]
    return PlainPlan(groups, first, index)


_VALUE = st.sampled_from(["a", "b", "c", "email", "anon", "external"])


@st.composite
def _chunk(draw: st.DrawFn) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in range(13)]
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from([EMAIL, EMAIL, USER, ANON]))
        for column in (EMAIL, USER, ANON):
            columns[column].append(draw(_VALUE) if column == kind else None)
    return columns


@settings(max_examples=300, deadline=None)
@given(columns=_chunk())
def test_a_plan_is_the_reference_grouping(columns: list[list[Any]]) -> None:
    plan = plan_plain(columns)
    assert plan == _reference(columns)
    assert all(isinstance(first, int) for first in plan.first)  # plain ints: what the writer pickles and indexes
