"""The parsing process's work for the writer (:mod:`funnelbridge.ingest.foresight`): the repeated rows are exactly
what the writer's own check would hold back, chunk after chunk, and equal identifiers get equal numbers."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from funnelbridge.ingest.bulkevents import EventChunk
from funnelbridge.ingest.bulkplain import plan_plain
from funnelbridge.ingest.firstkeys import SeenHashes
from funnelbridge.ingest.foresight import Foresight


def _chunk(rows: list[tuple[int, str, int]]) -> EventChunk:
    """A plain chunk of rows ``(key, kind, who)``: the key text, and one identifier of that kind."""
    columns: list[list[Any]] = [[] for _ in range(13)]
    for key, kind, who in rows:
        values = [f"k{key}", "track", "page_view", None, f"c{who}" if kind == "anon" else None,
                  f"p{who}@x.example" if kind == "email" else None, f"u{who}" if kind == "external" else None,
                  None, "ads" if key % 3 else None, "cpc" if key % 2 else None, None, None,
                  "2026-01-01 00:00:00.000000"]  # fmt: skip
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return EventChunk(None, 0, [], False, columns=columns, plan=plan_plain(columns))


_rows = st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from(["email", "anon", "external"]), st.integers(0, 4)), max_size=12
)


@given(st.lists(_rows, min_size=1, max_size=6), st.integers(1, 7))
def test_repeated_rows_are_the_writer_s_check_and_numbers_follow_identifiers(
    chunks: list[list[tuple[int, str, int]]], buckets: int
) -> None:
    def hasher(key: str) -> int:  # few values: collisions too
        return int(key[1:]) % buckets

    foresight, seen = Foresight(hasher), SeenHashes(hasher)
    numbers: dict[tuple[str, str], int] = {}
    for rows in chunks:
        chunk = _chunk(list({r[0]: r for r in rows}.values()))  # a prepared chunk holds each key once
        foresight.annotate(chunk)
        plan = chunk.plan
        assert plan is not None and plan.repeated is not None and plan.gids is not None
        keys = chunk.columns[0]
        fresh = set(seen.admit(keys))
        assert list(plan.repeated) == [i for i in range(len(keys)) if i not in fresh]
        assert plan.touches is not None
        codes, triples = plan.touches
        assert [triples[c] for c in codes] == list(zip(*chunk.columns[8:11], strict=True))
        assert len(set(triples)) == len(triples)
        for group, number in zip(plan.groups, plan.gids, strict=True):
            assert numbers.setdefault(group, number) == number
    assert len(set(numbers.values())) == len(numbers)


def test_a_chunk_that_is_not_plain_is_left_as_it_is() -> None:
    chunk = EventChunk(None, 0, [], True, columns=[[] for _ in range(13)])
    Foresight().annotate(chunk)
    assert chunk.plan is None
