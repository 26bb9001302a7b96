"""The lifecycle's repositories on both stores: optimistic versions, the append-only trail, stall candidates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from funnelbridge.errors import ConflictError
from funnelbridge.lifecycle.model import Transition
from funnelbridge.store import Database
from funnelbridge.store.pipeline import (
    PipelineState,
    get_state,
    insert_state,
    stall_candidates,
    states_of,
    update_state,
)
from funnelbridge.store.tables import contacts, events
from funnelbridge.store.transitions import by_key, insert_transition, last_transition, trail

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _contact(db: Database) -> int:
    with db.transaction() as conn:
        row = {"email": None, "created_at": T0, "updated_at": T0, "version": 1}
        return int(conn.execute(insert(contacts).values(row)).inserted_primary_key[0])  # type: ignore[index]


def test_state_updates_are_guarded_by_the_version(db: Database) -> None:
    cid = _contact(db)
    with db.transaction() as conn:
        insert_state(conn, PipelineState(cid, "main", "lead", T0, 1))
        state = get_state(conn, cid, "main")
        assert state is not None and state.version == 1
        moved = update_state(conn, state, stage="mql", entered_at=T0 + timedelta(hours=1))
        assert (moved.stage, moved.version) == ("mql", 2)
    with pytest.raises(ConflictError, match="expected version 1"), db.transaction() as conn:
        update_state(conn, state, stage="sal")
    with pytest.raises(ConflictError, match="concurrently"), db.transaction() as conn:
        insert_state(conn, PipelineState(cid, "main", "lead", T0, 1))
    with db.read() as conn:
        current = get_state(conn, cid, "main")
    assert current is not None and (current.stage, current.version, current.entered_at) == ("mql", 2, moved.entered_at)


def test_trail_round_trips_and_keys_are_unique(db: Database) -> None:
    cid = _contact(db)
    base = Transition(cid, "main", 1, None, "lead", T0, "system", "system", skipped=("visitor",), playbook_version="v")
    with db.transaction() as conn:
        first = insert_transition(conn, base)
        second = insert_transition(
            conn,
            Transition(
                **{
                    **base.__dict__,
                    "from_stage": "lead",
                    "to_stage": "mql",
                    "skipped": (),
                    "idempotency_key": "k1",
                    "id": None,
                }
            ),
        )
    with db.read() as conn:
        assert [t.id for t in trail(conn, [cid])] == [first.id, second.id]
        assert trail(conn, [cid])[0].skipped == ("visitor",)
        assert by_key(conn, "k1") == second
        assert last_transition(conn, cid, "main") == second
    with pytest.raises(ConflictError), db.transaction() as conn:
        insert_transition(conn, second)


def test_stall_candidates_take_the_latest_sign_of_life(db: Database) -> None:
    quiet, busy = _contact(db), _contact(db)
    with db.transaction() as conn:
        for cid in (quiet, busy):
            insert_state(conn, PipelineState(cid, "main", "mql", T0, 1))
        row = {"idempotency_key": "e1", "contact_id": busy, "type": "page_view"}
        conn.execute(insert(events).values(**row, occurred_at=T0 + timedelta(days=3), received_at=T0))
    with db.read() as conn:
        found = {c.contact_id: c.quiet_since for c in stall_candidates(conn, "main", ["mql"])}
    assert found == {quiet: T0, busy: T0 + timedelta(days=3)}


def test_states_of_reads_many_as_get_state_reads_one(db: Database) -> None:
    """The batch read (on SQLite without SQLAlchemy's per-row processing) == one get_state per (contact, pipeline)."""
    ids = [_contact(db) for _ in range(5)]
    with db.transaction() as conn:
        for i, cid in enumerate(ids[:4]):
            seen = None if i % 2 else T0 + timedelta(minutes=i, microseconds=7)
            insert_state(conn, PipelineState(cid, "main", "lead", T0 + timedelta(seconds=i), 1 + i, None, seen))
            if i == 1:
                insert_state(conn, PipelineState(cid, "partner", "new", T0, 1))
    with db.read() as conn:
        many = states_of(conn, [*ids, 10**9], chunk=2)
        one = {(c, p): get_state(conn, c, p) for c in ids for p in ("main", "partner")}
    assert many == {key: state for key, state in one.items() if state is not None}
    assert len(many) == 5
    assert all(s.entered_at.tzinfo is UTC for s in many.values())
