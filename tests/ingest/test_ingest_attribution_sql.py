"""SQLite's one-statement attribution update leaves every contact exactly as the four grouped updates do —
created_at, identified_at, first and last touch, ``updated_at`` and ``version`` included — over random stored
states and random batches (hypothesis), and keeps the run's bounds the same."""

from __future__ import annotations

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
from funnelbridge.store import Database
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
