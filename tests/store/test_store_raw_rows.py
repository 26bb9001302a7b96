"""raw_rows.rows reads what SQLAlchemy reads: the same tuples, value for value and type for type."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, String, bindparam, func, insert, select

from funnelbridge.store import raw_rows
from funnelbridge.store.db import Database
from funnelbridge.store.tables import accounts, contacts, events, pipeline_states, scores

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_times = st.none() | st.integers(0, 10**12).map(lambda us: T0 + timedelta(microseconds=us))
_json = st.none() | st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
_money = st.none() | st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False)


def _same(conn: Connection, stmt: Any, params: dict[str, Any]) -> None:
    expected = [tuple(r) for r in conn.execute(stmt, params)]
    got = list(raw_rows.rows(conn, stmt, params))
    assert got == expected
    assert [[type(v) for v in r] for r in got] == [[type(v) for v in r] for r in expected]
    for g, e in zip(got, expected, strict=True):  # aware UTC times, like UTCDateTime's
        assert [v.tzinfo for v in g if isinstance(v, datetime)] == [v.tzinfo for v in e if isinstance(v, datetime)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    times=st.lists(_times, min_size=3, max_size=3),
    money=_money,
    doc=_json,
    flags=st.tuples(st.booleans(), st.booleans()),
    text=st.none() | st.text(max_size=8),
)
def test_rows_match_sqlalchemy_on_contacts_accounts_and_scores(
    sqlite_db: Database,
    times: list[datetime | None],
    money: Decimal | None,
    doc: Any,
    flags: tuple[bool, bool],
    text: str | None,
) -> None:
    with sqlite_db.transaction() as conn:
        account = conn.execute(
            insert(accounts).values(
                domain="a.example", annual_revenue=money, technologies=doc, created_at=T0, updated_at=times[0] or T0
            )
        ).inserted_primary_key[0]
        cid = conn.execute(
            insert(contacts).values(
                email="x@a.example",
                title=text,
                account_id=account,
                first_touch_at=times[0],
                last_touch_at=times[1],
                unsubscribed=flags[0],
                bounced=flags[1],
                properties=doc,
                created_at=T0,
                updated_at=times[2] or T0,
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(scores).values(
                contact_id=cid,
                score_group="main",
                fit=1.5,
                engagement=2.0,
                negative=0.0,
                total=3.5,
                grade="A",
                temperature="hot",
                quadrant="sales_ready",
                mql_eligible=flags[0],
                explanation=[{"rule": text}],
                as_of=times[1] or T0,
                playbook_version="v",
                updated_at=T0,
                state=doc,
            )
        )
        conn.execute(
            insert(events).values(
                idempotency_key="k",
                contact_id=cid,
                type="page_view",
                occurred_at=T0,
                received_at=times[2] or T0,
                path=text,
                properties=doc,
            )
        )
        conn.execute(
            insert(pipeline_states).values(
                contact_id=cid, pipeline="main", stage="lead", entered_at=T0, journey=1, last_activity_at=times[1]
            )
        )
        ids = select(func.json_each(bindparam("ids", type_=String)).table_valued("value").c.value)
        joined = contacts.outerjoin(accounts, contacts.c.account_id == accounts.c.id)
        for stmt in (
            select(contacts, *(c.label(f"a_{c.name}") for c in accounts.c))
            .select_from(joined)
            .where(contacts.c.id.in_(ids)),
            select(scores).where(scores.c.contact_id.in_(ids), scores.c.score_group == "main"),
            select(events).where(events.c.contact_id.in_(ids)),
            select(pipeline_states).where(pipeline_states.c.contact_id.in_(ids)),
        ):
            _same(conn, stmt, {"ids": json.dumps([cid, cid + 1])})
        conn.rollback()


def test_rows_with_a_literal_in_the_statement_and_no_rows(db: Database) -> None:
    """Literal values the statement binds itself are passed too; no rows is an empty sequence; on PostgreSQL the
    rows are SQLAlchemy's as tuples."""
    stmt = select(scores.c.contact_id).where(scores.c.score_group == "main", scores.c.contact_id == bindparam("cid"))
    with db.read() as conn:
        assert list(raw_rows.rows(conn, stmt, {"cid": 1})) == []
        _same(conn, select(pipeline_states).where(pipeline_states.c.contact_id == bindparam("cid")), {"cid": 1})


def test_utc_time_reads_stored_text_as_aware_utc() -> None:
    assert raw_rows.utc_time("2026-01-02 03:04:05.000006") == datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert raw_rows.utc_time(None) is None
