"""Invariants of the stage funnel on random journeys (DuckDB, in memory): the Ibis expressions agree with a plain
Python reading of the counting rules, counts never grow down the funnel, strict ≤ any, cohorts add up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelbridge.analytics.engines import Engine, EngineKind
from funnelbridge.analytics.export import arrow_schema
from funnelbridge.analytics.periods import Grain, Period
from funnelbridge.analytics.stages import Order, StageFunnelSpec, stage_funnel, stage_funnel_views
from funnelbridge.analytics.tables import Context
from funnelbridge.playbook.schema import Playbook
from funnelbridge.store import tables as t

T0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
AS_OF = datetime(2030, 1, 1, tzinfo=UTC)  # after every generated move

# a journey: the stage indices it entered (strictly increasing) and the day of each move
journey = (
    st.lists(st.integers(0, 8), min_size=1, max_size=6, unique=True)
    .map(sorted)
    .flatmap(lambda idx: st.tuples(st.just(idx), st.lists(st.integers(0, 40), min_size=len(idx), max_size=len(idx))))
)
world = st.lists(st.tuples(st.integers(1, 6), journey), min_size=1, max_size=12)


def _rows(data: list[tuple[int, tuple[list[int], list[int]]]], stages: tuple[str, ...]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    seen: dict[int, int] = {}
    for contact, (indices, gaps) in data:
        seen[contact] = seen.get(contact, 0) + 1
        at = T0 + 86_400 * 100 * seen[contact]
        previous = -1
        for index, gap in zip(indices, gaps, strict=True):
            at += gap * 3_600 + 1
            skipped = [stages[i] for i in range(previous + 1, index)] if previous >= 0 else []
            rows.append({
                "id": len(rows) + 1, "contact_id": contact, "pipeline": "main", "journey": seen[contact],
                "to_stage": stages[index], "at": datetime.fromtimestamp(at, UTC),
                "skipped": json.dumps(skipped) if skipped else None,
            })  # fmt: skip
            previous = index
    return rows


def _reference(rows: list[dict[str, object]], stages: tuple[str, ...], strict: bool) -> list[int]:
    journeys: dict[tuple[object, object], list[dict[str, object]]] = {}
    for row in rows:
        journeys.setdefault((row["contact_id"], row["journey"]), []).append(row)
    counts = [0] * len(stages)
    for moves in journeys.values():
        top = max(stages.index(str(m["to_stage"])) for m in moves)
        skipped = {s for m in moves for s in json.loads(str(m["skipped"] or "[]"))}
        for i in range(top + 1):
            if strict and any(stages[j] in skipped for j in range(i + 1)):
                break
            counts[i] += 1
    return counts


def _engine(rows: list[dict[str, object]]) -> Engine:
    con = ibis.duckdb.connect()
    schema = arrow_schema(t.transitions)
    columns = {f.name: [r.get(f.name) for r in rows] for f in schema}
    table = pa.table({f.name: pa.array(columns[f.name], type=f.type) for f in schema})
    return Engine(EngineKind.DUCKDB, con, lambda name: con.create_table(name, table))


@pytest.fixture(scope="module")
def b2b() -> Iterator[Playbook]:
    from funnelbridge.playbook.examples import load_example

    yield load_example("b2b")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world)
def test_counts_match_the_counting_rules(b2b: Playbook, data: list[tuple[int, tuple[list[int], list[int]]]]) -> None:
    stages = b2b.main.stage_ids
    rows = _rows(data, stages)
    engine = _engine(rows)
    ctx = Context(engine, b2b, "main", AS_OF)
    every = Period("all time")
    anyway = [c.reached for c in stage_funnel(ctx, every).total.counts]
    strict = [c.reached for c in stage_funnel(ctx, every, StageFunnelSpec(order=Order.STRICT)).total.counts]
    assert anyway == _reference(rows, stages, strict=False)
    assert strict == _reference(rows, stages, strict=True)
    assert all(a >= b for a, b in pairwise(anyway))
    assert all(s <= a for s, a in zip(strict, anyway, strict=True))
    total, cohorts, _ = stage_funnel_views(ctx, every, cohort=Grain.MONTH)
    assert cohorts is not None
    assert [sum(g.counts[i].reached for g in cohorts.groups) for i in range(len(stages))] == anyway
    assert [c.reached for c in total.total.counts] == anyway
    engine.close()
