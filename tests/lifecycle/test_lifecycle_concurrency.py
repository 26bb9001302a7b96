"""Concurrency and idempotency: reps racing for the same MQL with real concurrent writers (threads, separate
connections) on SQLite and PostgreSQL; replayed commands change nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from lifecycle_helpers import FULL_BANT, REP, REP2, make_mql, table
from sqlalchemy import func, select

from funnelbridge.errors import ConflictError
from funnelbridge.lifecycle import Actor, accept, open_deal, qualify, reject, win_deal
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import deal_changes, transitions


def race(calls: list[Callable[[], object]]) -> tuple[list[object], list[BaseException]]:
    barrier = threading.Barrier(len(calls))
    wins: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            result = call()
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                wins.append(result)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return wins, errors


def count_rows(rt: Runtime, table_: object) -> int:
    with rt.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table_)).scalar_one())  # type: ignore[arg-type]


@pytest.mark.parametrize("reps", [2, 4])
def test_exactly_one_rep_wins_the_race_to_accept(rt: Runtime, reps: int) -> None:
    for _ in range(3):
        cid = make_mql(rt)
        actors = [Actor(f"rep{i}@acme.example", "sales") for i in range(reps)]
        wins, errors = race([lambda a=a, c=cid: accept(rt, c, a) for a in actors])  # type: ignore[misc]
        assert len(wins) == 1, errors
        assert len(errors) == reps - 1
        assert all(isinstance(e, ConflictError) for e in errors), errors
        assert any("already accepted" in str(e) or "concurrently" in str(e) for e in errors)
        with rt.db.read() as conn:
            into_sal = select(func.count()).where(
                transitions.c.contact_id == cid, transitions.c.to_stage == table(rt).roles.handoff
            )
            assert conn.execute(into_sal).scalar_one() == 1


def test_accept_and_reject_racing_leave_one_decision(rt: Runtime) -> None:
    cid = make_mql(rt)
    wins, errors = race([lambda: accept(rt, cid, REP), lambda: reject(rt, cid, REP2, "not_a_fit")])
    assert len(wins) == 1 and len(errors) == 1 and isinstance(errors[0], ConflictError)


def test_the_loser_is_told_who_won(rt: Runtime) -> None:
    cid = make_mql(rt)
    accept(rt, cid, REP)
    with pytest.raises(ConflictError, match=r"already accepted by rita@acme\.example"):
        accept(rt, cid, REP2)
    qualify(rt, cid, REP, FULL_BANT)  # the winner has moved on: the loser still learns who took the lead
    with pytest.raises(ConflictError, match=r"already accepted by rita@acme\.example .*now in 'sql'"):
        reject(rt, cid, REP2, "not_a_fit")


def test_replaying_a_command_with_its_key_changes_nothing(rt: Runtime) -> None:
    cid = make_mql(rt)
    first = accept(rt, cid, REP, idempotency_key="acc-1")
    before = count_rows(rt, transitions)
    again = accept(rt, cid, REP, idempotency_key="acc-1")
    assert again == first and again.id == first.id
    assert count_rows(rt, transitions) == before
    qualify(rt, cid, REP, FULL_BANT, idempotency_key="q-1")
    assert qualify(rt, cid, REP, {}, idempotency_key="q-1").to_stage == table(rt).roles.qualify
    other = make_mql(rt)
    with pytest.raises(ConflictError, match="already used for contact"):
        accept(rt, other, REP, idempotency_key="acc-1")


def test_concurrent_replays_store_one_transition(rt: Runtime) -> None:
    cid = make_mql(rt)
    before = count_rows(rt, transitions)
    wins, errors = race([lambda: accept(rt, cid, REP, idempotency_key="same") for _ in range(3)])
    assert wins and all(isinstance(e, ConflictError) for e in errors)
    assert count_rows(rt, transitions) == before + 1


def test_deal_commands_replay(rt: Runtime) -> None:
    cid = make_mql(rt)
    accept(rt, cid, REP)
    qualify(rt, cid, REP, FULL_BANT)
    deal = open_deal(rt, cid, REP, amount=1000, idempotency_key="open-1")
    again = open_deal(rt, cid, REP, amount=1000, idempotency_key="open-1")
    assert again.deal_id == deal.deal_id and again.replayed
    won = win_deal(rt, deal.deal_id, REP, idempotency_key="win-1")
    changes = count_rows(rt, deal_changes)
    assert win_deal(rt, deal.deal_id, REP, idempotency_key="win-1").status == won.status == "won"
    assert count_rows(rt, deal_changes) == changes
