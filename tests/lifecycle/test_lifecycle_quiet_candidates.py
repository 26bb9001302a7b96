"""The daily stall sweep's read (:func:`~funnelbridge.store.pipeline.quiet_candidates`): the leads it finds quiet
for their stage's limit are exactly those :func:`~funnelbridge.store.pipeline.stall_candidates` (every staged lead
with its newest event) finds quiet, with the same quiet-since times — on SQLite and PostgreSQL, for random stages,
entry and activity times and events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from funnelbridge.store import Database
from funnelbridge.store.pipeline import PipelineState, insert_states, quiet_candidates, stall_candidates
from funnelbridge.store.tables import contacts, events

Lead = tuple[str, datetime, datetime | None, list[datetime], bool]
T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
LIMITS = {"mql": timedelta(days=7), "sal": timedelta(days=14)}
hours = st.integers(0, 30 * 24).map(lambda h: T0 + timedelta(hours=h))
lead = st.tuples(
    st.sampled_from(["mql", "sal", "sql"]), hours, st.none() | hours, st.lists(hours, max_size=3), st.booleans()
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(lead, min_size=1, max_size=12))
def test_quiet_candidates_find_the_quiet_leads_stall_candidates_find(db: Database, leads: list[Lead]) -> None:
    with db.engine.connect() as conn, conn.begin() as tx:
        states = []
        for n, (stage, entered, last, times, other_pipeline) in enumerate(leads):
            row = {"email": None, "created_at": T0, "updated_at": T0, "version": 1}
            cid = int(conn.execute(insert(contacts).values(row)).inserted_primary_key[0])  # type: ignore[index]
            pipeline = "deals" if other_pipeline else "main"
            states.append(PipelineState(cid, pipeline, stage, entered, 1, last_activity_at=last))
            for i, at in enumerate(times):
                values = {"idempotency_key": f"{n}-{i}", "contact_id": cid, "type": "page_view", "occurred_at": at}
                conn.execute(insert(events).values(**values, received_at=at))
        insert_states(conn, states)
        expected = [
            (c.contact_id, c.stage, c.quiet_since)
            for c in stall_candidates(conn, "main", list(LIMITS))
            if c.quiet_since + LIMITS[c.stage] <= NOW
        ]
        cutoffs = {stage: NOW - limit for stage, limit in LIMITS.items()}
        got = [
            (c.contact_id, c.stage, c.quiet_since)
            for c in quiet_candidates(conn, "main", cutoffs)
            if c.quiet_since + LIMITS[c.stage] <= NOW
        ]
        tx.rollback()
    assert got == expected
