"""Rebuilding ``pipeline_states`` from the trail gives back the rows the live moves and history imports wrote —
last activity included, so a rebuild does not make imported leads look stalled since their historical dates."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from lifecycle_helpers import REP, add_contact, make_mql, run_advance, tick
from sqlalchemy import select, update

from funnelbridge.ingest import import_file
from funnelbridge.ingest.history import IMPORT_ACTOR
from funnelbridge.lifecycle import accept, rebuild_projection, recycle_stalled, reject
from funnelbridge.lifecycle.projection import IMPORTED
from funnelbridge.runtime import Runtime
from funnelbridge.store.pipeline import PipelineState, all_states
from funnelbridge.store.tables import contacts, pipeline_states, transitions

HEAD = [
    "Record ID",
    "Email",
    "Lifecycle Stage",
    "Create Date",
    "Became a Lead Date",
    "Became a Marketing Qualified Lead Date",
    "Became a Sales Qualified Lead Date",
    "Became a Customer Date",
]
HISTORY = [
    ["1", "ada@acme.com", "customer", "2025-01-06 09:00", "2025-01-06 09:00", "2025-01-20 10:00", "2025-02-03 10:00",
     "2025-03-17 10:00"],
    ["2", "bo@initech.com", "marketingqualifiedlead", "2025-02-03", "2025-02-03", "2025-02-10", "", ""],
    ["3", "cy@globex.com", "salesqualifiedlead", "2025-02-05", "2025-02-05", "2025-02-06", "2025-02-07", ""],
]  # fmt: skip


def _live(rt: Runtime) -> list[int]:
    """Contacts moved live at different times: entered and moved on, accepted, rejected (a new journey)."""
    first = add_contact(rt, email=None, title=None)
    run_advance(rt, first)
    tick(rt, timedelta(hours=3))
    a, b = make_mql(rt), make_mql(rt)
    tick(rt, timedelta(days=1))
    accept(rt, a, REP)
    tick(rt, timedelta(days=2))
    reject(rt, b, REP, "duplicate")
    tick(rt, timedelta(hours=5))
    return [first, a, b]


def _imported(rt: Runtime, tmp_path: Path) -> list[int]:
    path = tmp_path / "hubspot.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([HEAD, *HISTORY])
    assert import_file(rt, "contacts", path).histories_written == len(HISTORY)
    with rt.db.read() as conn:
        ids = conn.execute(select(contacts.c.id).where(contacts.c.email.in_([r[1] for r in HISTORY]))).scalars()
        return sorted(ids)


def _states(rt: Runtime) -> list[PipelineState]:
    with rt.db.read() as conn:
        return all_states(conn)


def _trail_kept(states: list[PipelineState]) -> list[PipelineState]:
    """The columns the trail holds: owner and version are the table's own (routing, optimistic lock)."""
    return [replace(s, owner_id=None, version=1) for s in states]


def _delete_states(rt: Runtime) -> None:
    with rt.db.transaction() as conn:
        conn.execute(pipeline_states.delete())


def test_rebuilding_intact_states_changes_nothing(rt: Runtime, tmp_path: Path) -> None:
    _live(rt)
    _imported(rt, tmp_path)
    before = _states(rt)
    tick(rt, timedelta(days=3))
    summary = rebuild_projection(rt)
    assert (summary.created, summary.changed, summary.removed) == (0, 0, 0)
    assert _states(rt) == before


def test_rebuilt_states_equal_the_deleted_ones(rt: Runtime, tmp_path: Path) -> None:
    """Live moves store their first move's time, an import stores the import's: rebuilt at the import's instant
    (the frozen clock), every state comes back as it was."""
    _live(rt)
    _imported(rt, tmp_path)
    before = _states(rt)
    assert all(s.last_activity_at is not None for s in before)
    _delete_states(rt)
    summary = rebuild_projection(rt)
    assert summary.created == len(before)
    assert _states(rt) == _trail_kept(before)
    assert rebuild_projection(rt) == replace(summary, created=0)


def test_imported_states_rebuilt_later_equal_the_deleted_ones(rt: Runtime, tmp_path: Path) -> None:
    """The trail records when an import wrote its moves (``imported_at``): rebuilt days later, imported states get
    that import time back as last activity (not the historical stage dates, nor the rebuild's time), so every
    rebuilt row equals the deleted one and the next stall sweep recycles what it would have anyway."""
    live = _live(rt)
    imported_at = rt.clock.now()
    imported = _imported(rt, tmp_path)
    with rt.db.read() as conn:
        stamps = conn.execute(select(transitions.c.contact_id, transitions.c.imported_at)).all()
    assert {(cid, at is None if cid in live else at) for cid, at in stamps} == {
        *((cid, True) for cid in live),
        *((cid, imported_at) for cid in imported),
    }
    before = _states(rt)
    tick(rt, timedelta(days=2))
    _delete_states(rt)
    assert rebuild_projection(rt).created == len(before)
    assert _states(rt) == _trail_kept(before)
    assert recycle_stalled(rt) == 0


def test_moves_imported_without_their_import_time_are_rebuilt_at_the_rebuild(rt: Runtime, tmp_path: Path) -> None:
    """A trail imported before ``imported_at`` was recorded (NULL): the rebuild's time, never the stage dates."""
    live = _live(rt)
    imported = _imported(rt, tmp_path)
    with rt.db.transaction() as conn:
        conn.execute(update(transitions).values(imported_at=None))
    before = {(s.contact_id, s.pipeline): s for s in _states(rt)}
    rebuilt_at = tick(rt, timedelta(days=2))
    _delete_states(rt)
    rebuild_projection(rt)
    for state in _states(rt):
        old = before[(state.contact_id, state.pipeline)]
        assert (state.stage, state.entered_at, state.journey) == (old.stage, old.entered_at, old.journey)
        expected = rebuilt_at if state.contact_id in imported else old.last_activity_at
        assert state.last_activity_at == expected, state
    assert {s.contact_id for s in _states(rt)} >= set(live)
    assert recycle_stalled(rt) == 0


def test_a_lost_last_activity_is_recomputed(rt: Runtime) -> None:
    first, *_ = _live(rt)
    before = _states(rt)
    with rt.db.transaction() as conn:
        conn.execute(update(pipeline_states).where(pipeline_states.c.contact_id == first).values(last_activity_at=None))
    assert rebuild_projection(rt).changed == 1
    with rt.db.read() as conn:
        first_move = conn.execute(select(transitions.c.at).where(transitions.c.contact_id == first)).scalars().first()
    assert [s.last_activity_at for s in _states(rt) if s.contact_id == first] == [first_move]
    assert _trail_kept(_states(rt)) == _trail_kept(before)


def test_imported_is_the_import_actor() -> None:
    assert IMPORTED == IMPORT_ACTOR
