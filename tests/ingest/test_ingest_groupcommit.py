"""Group commit: concurrent requests share a transaction, each gets its own receipt, and a failing request fails
alone — on both stores."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from ingest_helpers import events, identify, live_contacts, page, rows, track

from funnelbridge.activity import drain, pending
from funnelbridge.ingest.events import Activity, parse_payload
from funnelbridge.ingest.groupcommit import GroupCommitter, Receipt
from funnelbridge.runtime import Runtime


def _acts(rt: Runtime, *payloads: dict[str, Any]) -> list[Activity]:
    return [parse_payload(p, index=i, now=rt.clock.now()) for i, p in enumerate(payloads, start=1)]


def _grouped(rt: Runtime, *requests: list[Activity]) -> tuple[list[Any], int]:
    """Submit every request before the writer starts, so they are stored as one group; their outcomes."""
    committer = GroupCommitter(rt)
    futures = [committer.submit(acts) for acts in requests]
    committer.start()
    outcomes = [f.exception(timeout=60) or f.result() for f in futures]
    committer.stop()
    return outcomes, committer.groups


def test_requests_share_one_transaction_and_get_their_own_receipts(rt: Runtime) -> None:
    first = _acts(rt, page("a1", "2026-03-01T09:00:00Z", "/pricing", utm_source="google"))
    second = _acts(rt, identify("a1", "ada@acme.com", "2026-03-01T09:05:00Z"), page("b2", "2026-03-01T09:06:00Z"))
    again = _acts(rt, page("a1", "2026-03-01T09:00:00Z", "/pricing", utm_source="google"))
    outcomes, groups = _grouped(rt, first, second, again)
    assert groups == 1
    assert outcomes == [
        Receipt(accepted=1, contacts_created=1, contacts_touched=1),
        Receipt(accepted=2, contacts_created=1, identified=1, contacts_touched=2),
        Receipt(duplicates=1),  # the same event as the first request: its key was taken earlier in the group
    ]
    assert len(rows(rt, events)) == 3
    assert sorted(c["email"] or "" for c in live_contacts(rt)) == ["", "ada@acme.com"]
    with rt.db.read() as conn:
        assert pending(conn) == 2  # both contacts queued for the drainer


def test_an_already_stored_event_is_a_duplicate(rt: Runtime) -> None:
    acts = _acts(rt, track("asset_download", "2026-03-01T09:00:00Z", email="bo@beta.io"))
    assert _grouped(rt, acts)[0] == [Receipt(accepted=1, contacts_created=1, contacts_touched=1)]
    assert _grouped(rt, acts, acts)[0] == [Receipt(duplicates=1), Receipt(duplicates=1)]


def test_a_failing_request_fails_alone(rt: Runtime) -> None:
    good = _acts(rt, page("g1", "2026-03-01T09:00:00Z"))
    (bad,) = _acts(rt, page("x1", "2026-03-01T09:00:00Z"))
    unstorable = replace(bad, properties={"x": object()})  # not JSON: its insert fails
    outcomes, _ = _grouped(rt, good, [unstorable], _acts(rt, page("g2", "2026-03-01T09:01:00Z")))
    assert outcomes[0] == outcomes[2] == Receipt(accepted=1, contacts_created=1, contacts_touched=1)
    assert isinstance(outcomes[1], Exception)
    assert {e["anonymous_id"] for e in rows(rt, events)} == {"g1", "g2"}


def test_asyncio_callers_await_their_receipt(rt: Runtime) -> None:
    committer = GroupCommitter(rt)
    committer.start()

    async def main() -> list[Receipt]:
        calls = [committer.store(_acts(rt, page(f"v{i}", "2026-03-01T09:00:00Z"))) for i in range(20)]
        return await asyncio.gather(*calls, committer.store([]))

    try:
        receipts = asyncio.run(main())
    finally:
        committer.stop()
    assert receipts[:-1] == [Receipt(accepted=1, contacts_created=1, contacts_touched=1)] * 20
    assert receipts[-1] == Receipt()
    assert 1 <= committer.groups <= 20 and len(rows(rt, events)) == 20


def test_stop_stores_what_was_submitted(rt: Runtime) -> None:
    committer = GroupCommitter(rt)
    future = committer.submit(_acts(rt, page("late", "2026-03-01T09:00:00Z")))
    committer.start()
    committer.stop()
    assert future.done() and future.result().accepted == 1


def _wait_for(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_idle_work_runs_when_no_request_waits_and_scores_the_queue(rt: Runtime) -> None:
    committer = GroupCommitter(rt, idle=lambda: drain(rt, batch=1, max_batches=1).contacts == 1, idle_interval=0.05)
    committer.start()
    try:
        acts = _acts(rt, page("a", "2026-03-01T09:00:00Z"), page("b", "2026-03-01T09:00:00Z"))
        assert committer.submit(acts).result(timeout=30).contacts_touched == 2
        _wait_for(lambda: _pending(rt) == 0)
    finally:
        committer.stop()
    assert committer.idle_steps >= 2  # one contact a step


def _pending(rt: Runtime) -> int:
    with rt.db.read() as conn:
        return pending(conn)


def test_requests_go_before_endless_idle_work(rt: Runtime) -> None:
    def busy() -> bool:
        time.sleep(0.02)
        return True  # always more to do

    committer = GroupCommitter(rt, idle=busy, idle_interval=0.05)
    committer.start()
    try:
        _wait_for(lambda: committer.idle_steps >= 3)
        steps = committer.idle_steps
        for i in range(40):  # back to back: the inbox is never empty for as long as a step took
            committer.submit(_acts(rt, page(f"r{i}", "2026-03-01T09:00:00Z"))).result(timeout=30)
        steps_between = committer.idle_steps - steps
        _wait_for(lambda: committer.idle_steps > steps + steps_between)  # and once they stop, it goes on
    finally:
        committer.stop()
    assert steps_between <= 20  # not a step of idle work before each request
    assert committer.groups == 40


def test_failing_idle_work_is_recorded_and_intake_goes_on(rt: Runtime) -> None:
    def broken() -> bool:
        raise RuntimeError("store away")

    committer = GroupCommitter(rt, idle=broken, idle_interval=0.01)
    committer.start()
    try:
        _wait_for(lambda: committer.idle_steps >= 2)
        receipt = committer.submit(_acts(rt, page("ok", "2026-03-01T09:00:00Z"))).result(timeout=30)
    finally:
        committer.stop()
    assert receipt.accepted == 1
    assert committer.idle_errors[0] == "RuntimeError: store away"
