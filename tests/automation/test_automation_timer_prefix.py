"""Cancelling timers by key prefix (SLA clocks, nurture steps) on SQLite and PostgreSQL: exactly the pending timers
whose key starts with the prefix — keys with LIKE's special characters, code points around the bounds' edges — and
on PostgreSQL through the index of pending timers' keys in byte order, whatever the database's collation."""

from __future__ import annotations

from automation_helpers import T0
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from funnelbridge.store import Database
from funnelbridge.store.tables import timers
from funnelbridge.store.timers import _cancel_statement, cancel_by_prefix, cancel_many, cancel_params, insert_timer

CHARS = st.sampled_from(["a", "b", ":", "_", "%", "/", "\\", "é", "\ud7ff", "\ue000", "\U0010ffff", "1", "9"])
KEYS = st.lists(st.text(CHARS, min_size=1, max_size=5), min_size=1, max_size=12, unique=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=KEYS, fired=st.sets(st.integers(0, 11)), cut=st.integers(0, 5), pick=st.integers(0, 11))
def test_cancelling_by_prefix_takes_exactly_the_pending_timers_with_it(
    db: Database, keys: list[str], fired: set[int], cut: int, pick: int
) -> None:
    prefix = keys[pick % len(keys)][:cut]
    with db.engine.connect() as conn, conn.begin() as tx:
        for i, key in enumerate(keys):
            insert_timer(conn, key=key, kind="sla_breach", due_at=T0, fired_at=T0 if i in fired else None)
        expected = {k for i, k in enumerate(keys) if i not in fired and k.startswith(prefix)}
        assert cancel_by_prefix(conn, prefix, T0) == len(expected)
        cancelled = conn.execute(select(timers.c.key).where(timers.c.cancelled_at.is_not(None))).scalars()
        assert set(cancelled) == expected
        assert cancel_many(conn, [cancel_params(prefix, T0), cancel_params(prefix + "a", T0)]) == 0
        tx.rollback()


def test_postgresql_cancels_through_the_pending_keys_index(pg_db: Database) -> None:
    """The statement, planned without its parameters' values (a generic plan), can use ``ix_timers_pending_key``."""
    with pg_db.engine.connect() as conn, conn.begin() as tx:
        sql = str(_cancel_statement("postgresql").compile(dialect=conn.dialect))
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        plan = conn.exec_driver_sql(f"EXPLAIN {sql}", cancel_params("sla:main:7:mql:", T0)).scalars().all()
        tx.rollback()
    assert any("ix_timers_pending_key" in line for line in plan), plan
