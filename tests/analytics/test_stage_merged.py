"""A contact merged into another one is not counted again: its transitions stay behind, analytics skips them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from funnelbridge.analytics.engines import open_engine
from funnelbridge.analytics.periods import parse_period
from funnelbridge.analytics.stages import stage_funnel
from funnelbridge.analytics.tables import Context
from funnelbridge.analytics.velocity import velocity
from funnelbridge.playbook.examples import load_example
from funnelbridge.store import tables as t
from funnelbridge.store.db import Database

AS_OF = datetime(2026, 4, 1, tzinfo=UTC)
PATH = [("visitor", 5), ("lead", 6), ("mql", 9)]


def _at(day: int) -> datetime:
    return datetime(2026, 1, day, 10, tzinfo=UTC)


def _contact(cid: int, merged_into: int | None) -> dict[str, Any]:
    email = None if merged_into else f"p{cid}@example.com"
    return {"id": cid, "email": email, "merged_into": merged_into, "created_at": _at(5), "updated_at": _at(5)}


def _moves(cid: int) -> list[dict[str, Any]]:
    rows, before = [], None
    for n, (stage, day) in enumerate(PATH):
        rows.append(
            {"contact_id": cid, "pipeline": "main", "journey": 1, "from_stage": before, "to_stage": stage,
             "at": _at(day), "actor": "system", "actor_role": "system", "playbook_version": "test",
             "idempotency_key": f"m{cid}-{n}"}
        )  # fmt: skip
        before = stage
    return rows


def _populate(db: Database, merged: bool) -> None:
    """Contact 1, and contact 2 with the same journey: a duplicate merged into 1, or a second real person."""
    with db.transaction() as conn:
        conn.execute(t.contacts.insert(), [_contact(1, None), _contact(2, 1 if merged else None)])
        conn.execute(t.transitions.insert(), _moves(1) + _moves(2))


@pytest.fixture(params=[True, False], ids=["merged", "two-people"])
def world(request: pytest.FixtureRequest, db: Database) -> Iterator[tuple[Context, bool]]:
    _populate(db, request.param)
    engine = open_engine(db)
    yield Context(engine, load_example("b2b"), "main", AS_OF), request.param
    engine.close()


def test_a_merged_duplicate_is_counted_once(world: tuple[Context, bool]) -> None:
    ctx, merged = world
    people = 1 if merged else 2
    funnel = stage_funnel(ctx, parse_period(None, ctx.tz, AS_OF))
    assert funnel.total.journeys == people
    assert [c.reached for c in funnel.total.counts][:4] == [people] * 4  # mal skipped: counted as passed
    mql = next(d for d in velocity(ctx, parse_period(None, ctx.tz, AS_OF)).dwell if d.stage == "mql")
    assert mql.current == people
