"""The set-based writes of the lifecycle's repositories on both stores: many states inserted and moved in one
executemany each (a stale version anywhere in the batch is a conflict), many transitions appended with their ids
returned in the given order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from funnelbridge.errors import ConflictError
from funnelbridge.lifecycle.model import Transition
from funnelbridge.store import Database
from funnelbridge.store.pipeline import PipelineState, insert_states, move_states, states_of, update_state
from funnelbridge.store.tables import contacts
from funnelbridge.store.transitions import insert_transitions, trail

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _contacts(db: Database, n: int) -> list[int]:
    row = {"email": None, "created_at": T0, "updated_at": T0, "version": 1}
    with db.transaction() as conn:
        return [int(conn.execute(insert(contacts).values(row)).inserted_primary_key[0]) for _ in range(n)]  # type: ignore[index]


def test_states_are_inserted_and_moved_together_under_their_versions(db: Database) -> None:
    ids = _contacts(db, 5)
    with db.transaction() as conn:
        insert_states(conn, [PipelineState(cid, "main", "lead", T0, 1, last_activity_at=T0) for cid in ids])
        before = states_of(conn, ids)
        later = T0 + timedelta(hours=2)
        move_states(conn, [(before[(cid, "main")], "mql", later, 1 + (cid % 2)) for cid in ids[:4]])
        after = states_of(conn, ids)
    assert [(after[(c, "main")].stage, after[(c, "main")].version) for c in ids] == [("mql", 2)] * 4 + [("lead", 1)]
    assert [after[(c, "main")].journey for c in ids[:4]] == [1 + (c % 2) for c in ids[:4]]
    assert all(after[(c, "main")].entered_at == later for c in ids[:4])
    with db.transaction() as conn:  # someone moved one of them meanwhile: the whole batch is refused
        update_state(conn, after[(ids[2], "main")], stage="sal")
    with pytest.raises(ConflictError, match="1 of 3 stages changed concurrently"), db.transaction() as conn:
        move_states(conn, [(after[(c, "main")], "recycled", later, 1) for c in ids[1:4]])
    with db.read() as conn:
        now = states_of(conn, ids)
    assert [now[(c, "main")].stage for c in ids] == ["mql", "mql", "sal", "mql", "lead"]
    with pytest.raises(ConflictError, match="concurrently"), db.transaction() as conn:
        insert_states(conn, [PipelineState(ids[4], "other", "lead", T0, 1), PipelineState(ids[0], "main", "x", T0, 1)])


def test_transitions_are_appended_with_their_ids_in_order(db: Database) -> None:
    ids = _contacts(db, 3)
    base = Transition(ids[0], "main", 1, None, "lead", T0, "system", "system", playbook_version="v")
    many = [
        replace(base, contact_id=cid, at=T0 + timedelta(minutes=i), skipped=("visitor",) * (i % 2), reason=f"r{i}")
        for i, cid in enumerate(ids * 3)
    ]
    with db.transaction() as conn:
        stored = insert_transitions(conn, many)
    with db.read() as conn:
        trail_by_id = {t.id: t for t in trail(conn)}
    assert [t.id for t in stored] == sorted(t.id for t in stored if t.id is not None)
    assert [replace(t, id=None) for t in stored] == many
    assert all(trail_by_id[t.id] == t for t in stored)
    keyed = [replace(base, idempotency_key="k"), replace(base, idempotency_key="k", to_stage="mql")]
    with pytest.raises(ConflictError, match="idempotency key"), db.transaction() as conn:
        insert_transitions(conn, keyed)
