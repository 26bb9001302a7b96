"""Group commit for event intake: concurrent requests hand their validated events to one writer thread, which
stores whatever has arrived in one transaction and then answers every request of that group.

A transaction per request spends most of its time on fixed costs (building and running a dozen statements, the
commit, queueing for SQLite's single write lock); a group of N requests shares them. Each request still waits for
the commit of its own events, so an answer still means the events are stored. Requests that arrive while a commit
is running form the next group, so under light load a group is one request and nothing waits on a timer.

Each request gets its own :class:`Receipt`, exactly as if it had been stored alone right after the requests
before it: an idempotency key seen earlier in the group counts as a duplicate of the later request. When a group
fails, each of its requests is retried alone, so one request's failure never fails another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from funnelbridge.ingest.events import Activity
from funnelbridge.ingest.intake import BatchResult, queue_contacts, store_activities
from funnelbridge.runtime import Runtime

__all__ = ["GroupCommitter", "IdleWork", "Receipt"]

_STOP = None


class _Idle:
    """No request came: time for a step of idle work."""


_IDLE = _Idle()
IdleWork = Callable[[], bool]
"""Background work the writer does while no request waits (scoring queued contacts): one small step per call,
in the writer's thread; returns whether there may be more."""


@dataclass(frozen=True)
class Receipt:
    """What storing one request's events did."""

    accepted: int = 0
    duplicates: int = 0
    contacts_created: int = 0
    identified: int = 0
    merged: int = 0
    contacts_touched: int = 0


@dataclass(frozen=True)
class _Ticket:
    activities: Sequence[Activity]
    future: Future[Receipt] | asyncio.Future[Receipt]
    loop: asyncio.AbstractEventLoop | None = None  # set for asyncio futures (settled on their loop)


Outcome = tuple[_Ticket, Receipt | Exception]


class _Raced(Exception):
    """Another writer stored some of the group's keys between look-up and insert: store the requests one by one."""


class GroupCommitter:
    """One writer thread storing the events of concurrent requests in shared transactions (``max_events`` at
    most per group); contacts touched are queued for the drainer (:mod:`funnelbridge.activity`).

    ``idle``: work the writer does in small steps whenever no request waits (the API server scores the queued
    contacts this way), polled every ``idle_interval`` seconds when it has nothing to do. Requests go first: after
    a step the writer waits as long as the step took for a request before the next one (not at all once requests
    have stopped coming); under sustained load idle work still gets a step every ``4 * idle_interval`` seconds."""

    def __init__(
        self, rt: Runtime, *, max_events: int = 5000, idle: IdleWork | None = None, idle_interval: float = 0.25
    ) -> None:
        self.rt, self.max_events = rt, max_events
        self._inbox: queue.SimpleQueue[_Ticket | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="funnelbridge-intake-writer", daemon=True)
        self._idle, self._idle_interval = idle, idle_interval
        self._more, self._step, self._last_idle = False, 0.0, time.monotonic()  # _step: the last one's duration
        self._quiet = False  # the last wait for a request ended without one: idle work goes on at full speed
        self.groups = 0  # transactions committed, for tests and benchmarks
        self.idle_steps = 0  # steps of idle work done
        self.idle_errors: list[str] = []  # the last hundred failures of idle work

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Store what was submitted so far, then stop."""
        self._inbox.put(_STOP)
        self._thread.join(timeout)

    def submit(self, activities: Sequence[Activity]) -> Future[Receipt]:
        """Queue one request's events; the future resolves once they are committed (or fails with the error)."""
        future: Future[Receipt] = Future()
        if not activities:
            future.set_result(Receipt())
        else:
            self._inbox.put(_Ticket(activities, future))
        return future

    async def store(self, activities: Sequence[Activity]) -> Receipt:
        """:meth:`submit` for asyncio callers: the writer wakes each event loop once per group, not per request."""
        if not activities:
            return Receipt()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Receipt] = loop.create_future()
        self._inbox.put(_Ticket(activities, future, loop))
        return await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._next()
            if isinstance(first, _Idle):
                self._idle_step()
                continue
            group, stopping = self._gather(first)
            if group:
                self._store(group)
                if not self._more:  # the group queued contacts: idle work has something to do from now on
                    self._more, self._last_idle = True, time.monotonic()

    def _next(self) -> _Ticket | _Idle | None:
        """The next ticket (or stop); :data:`_IDLE` when it is time for a step of idle work: no request came
        within the pause, or requests have kept it waiting ``4 * idle_interval`` since it had something to do (or
        since its last step), so it is never starved."""
        if self._idle is None:
            return self._inbox.get()
        if self._more and time.monotonic() - self._last_idle >= 4 * self._idle_interval:
            return _IDLE
        pause = self._pause()
        try:
            ticket = self._inbox.get(timeout=pause) if pause > 0 else self._inbox.get_nowait()
        except queue.Empty:
            self._quiet = self._quiet or pause > 0  # (still) no request came while waiting
            return _IDLE
        self._quiet = False
        return ticket

    def _pause(self) -> float:
        """How long to wait for a request before the next step of idle work."""
        if not self._more:
            return self._idle_interval
        return 0.0 if self._quiet else self._step

    def _idle_step(self) -> None:
        """One step of idle work. Then, if there is more, the writer waits as long as the step took for requests
        before the next step (requests always go first) — or not at all when none came during the last wait; if
        there is nothing more, ``idle_interval``."""
        assert self._idle is not None
        began = time.monotonic()
        try:
            more = self._idle()
        except Exception as exc:  # e.g. the database is unreachable: keep storing events, try again later
            self.idle_errors = [*self.idle_errors[-99:], f"{type(exc).__name__}: {exc}"]
            more = False
        self.idle_steps += 1
        self._last_idle = time.monotonic()
        self._more, self._step = more, self._last_idle - began

    def _gather(self, first: _Ticket | None) -> tuple[list[_Ticket], bool]:
        """The first ticket plus whatever else is waiting, up to ``max_events``; and whether to stop after."""
        if first is _STOP:
            return [], True
        group, size = [first], len(first.activities)
        while size < self.max_events:
            try:
                ticket = self._inbox.get_nowait()
            except queue.Empty:
                break
            if ticket is _STOP:
                return group, True
            group.append(ticket)
            size += len(ticket.activities)
        return group, False

    def _store(self, group: list[_Ticket]) -> None:
        _deliver(self._outcomes(group))

    def _outcomes(self, group: list[_Ticket]) -> list[Outcome]:
        try:
            receipts = self._commit(group)
        except Exception as exc:
            if len(group) == 1:
                return [(group[0], exc)]
            return [outcome for ticket in group for outcome in self._outcomes([ticket])]
        self.groups += 1
        return list(zip(group, receipts, strict=True))

    def _commit(self, group: list[_Ticket]) -> list[Receipt]:
        activities = [act for ticket in group for act in ticket.activities]
        with self.rt.db.transaction() as conn:
            now = self.rt.clock.now()
            result = store_activities(conn, activities, now)
            if len(group) > 1 and result.inserted != len(result.contact_of):
                raise _Raced
            queue_contacts(conn, result.contact_ids, now)
        if len(group) == 1:
            return [_whole(result)]
        return _receipts(group, result)


def _deliver(outcomes: list[Outcome]) -> None:
    """Settle each ticket's future: thread futures at once, asyncio ones with one wake-up per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for ticket, outcome in outcomes:
        if ticket.loop is None:
            _settle([(ticket, outcome)])
        else:
            by_loop.setdefault(ticket.loop, []).append((ticket, outcome))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, settled)


def _settle(outcomes: list[Outcome]) -> None:
    for ticket, outcome in outcomes:
        if ticket.future.done():  # the request was cancelled (client gone)
            continue
        if isinstance(outcome, Exception):
            ticket.future.set_exception(outcome)
        else:
            ticket.future.set_result(outcome)


def _whole(result: BatchResult) -> Receipt:
    return Receipt(
        result.inserted,
        result.duplicates,
        result.created,
        result.identified,
        result.merged,
        len(result.contact_ids),
    )


def _receipts(group: list[_Ticket], result: BatchResult) -> list[Receipt]:
    """Each request's share of a group's result; an event counts for the first request that carried its key."""
    claimed: set[str] = set()
    receipts = []
    for ticket in group:
        accepted = duplicates = created = identified = merged = 0
        contacts: set[int] = set()
        for act in ticket.activities:
            if act.key in claimed or act.key not in result.contact_of:
                duplicates += 1
                continue
            claimed.add(act.key)
            accepted += 1
            contacts.add(result.contact_of[act.key])
            credit = result.credits.get(act.key)
            if credit is not None:
                created, identified, merged = (
                    created + credit.created,
                    identified + credit.identified,
                    merged + credit.merged,
                )
        receipts.append(Receipt(accepted, duplicates, created, identified, merged, len(contacts)))
    return receipts
