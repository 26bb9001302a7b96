"""SQLite's one-statement attribution update leaves every contact exactly as the four grouped updates do —
created_at, identified_at, first and last touch, ``updated_at`` and ``version`` included — over random stored
states and random batches (hypothesis), and keeps the run's bounds the same; the settle's marks written column by
column (split by the groups they give) leave every contact as the full statement does."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from funnelbridge.ingest.attribution import (
    Bounds,
    ContactActivity,
    Touch,
    apply_activity,
    apply_activity_grouped,
)
from funnelbridge.ingest.attribution_sql import _GROUPS, Mark, _statement, write_mark_columns, write_marks_sqlite
from funnelbridge.store import Database
from funnelbridge.store.bulk import sqlite_time
from funnelbridge.store.tables import contacts

T0 = datetime(2026, 1, 1, tzinfo=UTC)
N = 5  # contacts per side: ids 1..N take the one-statement update, N+1..2N the grouped reference
_times = st.integers(0, 6).map(lambda h: T0 + timedelta(hours=h))
_maybe_time = st.none() | _times
_word = st.sampled_from([None, "", "ads", "mail"])
_touch = st.builds(Touch, _times, _word, _word, _word)
_state = st.fixed_dictionaries(
    {
        "email": st.booleans(),
        "external": st.booleans(),
        "created_at": _times,
        "identified_at": _maybe_time,
        "first": st.none() | _touch,
        "last": st.none() | _touch,
    }
)
_activity = st.builds(ContactActivity, _maybe_time, _maybe_time, st.none() | _touch, st.none() | _touch)
_batch = st.dictionaries(st.integers(1, N), _activity, max_size=N)


def _row(cid: int, state: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": cid, "email": f"p{cid}@x.example" if state["email"] else None,
                           "external_id": f"x{cid}" if state["external"] else None,
                           "created_at": state["created_at"], "identified_at": state["identified_at"],
                           "updated_at": T0, "version": 1, "unsubscribed": False, "bounced": False}  # fmt: skip
    for end in ("first", "last"):
        touch = state[end]
        row.update({f"{end}_touch_at": touch and touch.at, f"{end}_source": touch and touch.source,
                    f"{end}_medium": touch and touch.medium, f"{end}_campaign": touch and touch.campaign})  # fmt: skip
    return row


def _stored(db: Database, ids: range) -> list[tuple[Any, ...]]:
    c = contacts.c
    columns = [c.created_at, c.identified_at, c.updated_at, c.version]
    columns += [
        c[f"{end}_{part}"] for end in ("first", "last") for part in ("touch_at", "source", "medium", "campaign")
    ]
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(select(*columns).where(c.id.in_(list(ids))).order_by(c.id))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states=st.lists(_state, min_size=N, max_size=N), batches=st.lists(_batch, min_size=1, max_size=3))
def test_one_statement_update_equals_the_grouped_updates(
    sqlite_db: Database, states: list[dict[str, Any]], batches: list[dict[int, ContactActivity]]
) -> None:
    with sqlite_db.transaction() as conn:
        conn.execute(contacts.delete())
        conn.execute(insert(contacts), [_row(i + 1 + side * N, s) for side in (0, 1) for i, s in enumerate(states)])
    ours, reference = Bounds(), Bounds()
    for number, batch in enumerate(batches):
        now = T0 + timedelta(days=1 + number)
        with sqlite_db.transaction() as conn:
            apply_activity(conn, batch, now, ours)
            apply_activity_grouped(conn, sorted((cid + N, act) for cid, act in batch.items()), now, reference)
    assert _stored(sqlite_db, range(1, N + 1)) == _stored(sqlite_db, range(N + 1, 2 * N + 1))
    for name in ("created", "first", "last"):
        assert getattr(ours, name) == {cid - N: v for cid, v in getattr(reference, name).items()}


_TEXTS = [sqlite_time(T0 + timedelta(hours=h)) for h in range(7)]  # equal times are one object, as the fold's
_mark_time = st.none() | st.sampled_from(_TEXTS)
_mark_touch = st.tuples(_mark_time, _word, _word, _word)  # a touch's parts even without its time
_mark = st.tuples(_mark_time, _mark_time, _mark_touch, _mark_touch).map(lambda m: (m[0], m[1], *m[2], *m[3]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    states=st.lists(_state, min_size=N, max_size=N),
    marks=st.lists(st.none() | _mark, min_size=N, max_size=N),
    shared=st.booleans(),
)
def test_mark_columns_equal_the_full_statement(
    sqlite_db: Database, states: list[dict[str, Any]], marks: list[Mark | None], shared: bool
) -> None:
    """Random stored attributions x random marks (None: the contact is not in the batch): every column as the
    full conditional statement (``write_marks_sqlite``, the scan's way) leaves it."""
    with sqlite_db.transaction() as conn:
        conn.execute(contacts.delete())
        conn.execute(insert(contacts), [_row(i + 1 + side * N, s) for side in (0, 1) for i, s in enumerate(states)])
    if shared:  # the last touch the first's very objects, the identifying time the earliest's (as the fold gives)
        marks = [m and (m[0], m[0], *m[2:6], *m[2:6]) for m in marks]
    batch = [(i + 1, mark) for i, mark in enumerate(marks) if mark is not None]
    columns: list[list[Any]] = [list(column) for column in zip(*(mark for _, mark in batch), strict=True)]
    now = T0 + timedelta(days=1)
    with sqlite_db.transaction() as conn:
        write_mark_columns(conn, [cid for cid, _ in batch], columns or [[] for _ in range(10)], now)
        write_marks_sqlite(conn, [(cid + N, mark) for cid, mark in batch], now)
    assert _stored(sqlite_db, range(1, N + 1)) == _stored(sqlite_db, range(N + 1, 2 * N + 1))


def test_the_reference_statement_is_the_one_before_the_split() -> None:
    """The full statement — the scan's, and the reference above — is the text it was before the settle's marks
    were split by group (the hypothesis test is only as good as its reference)."""
    digest = hashlib.sha256(_statement().encode()).hexdigest()
    assert digest == "3be6d8006d48aac3d889fc152a0692a27cbefc5a83fbdf0ea77ea6c63fc2c272"


def test_a_partial_statement_binds_only_its_groups() -> None:
    full = _statement()
    assert "?12" in full and "?13" not in full
    created = _statement(("created",))
    assert "?3" in created and "?4" not in created and "first_touch_at" not in created
    shared = _statement(_GROUPS, ("identified", "last"))  # i_at as c_at, the last touch's as the first's
    assert "?7" in shared and "?8" not in shared
