"""The simulated sales floor: reps with a weekly capacity work the real sales queue and their follow-ups through
the lifecycle commands (accept, reject, disqualify, qualify, open/move/win/lose deal, advocate).

A rep only sees what a rep would see — the queue item and the person behind it — and decides with
:mod:`funnelbridge.demo.sales`. When the engine refuses a move (the lead was recycled meanwhile, say), the rep
notes it and moves on: that is a normal day in sales, counted in ``skipped``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from typing import Any

from funnelbridge.demo.agenda import Agenda, Task, TaskKind
from funnelbridge.demo.behaviour import pid_from_email
from funnelbridge.demo.sales import DealPlan, advocacy, deal_plan, discovery, triage
from funnelbridge.demo.world import World, account_name
from funnelbridge.errors import DomainError, InputError, NotFoundError
from funnelbridge.lifecycle.commands import accept, advocate, disqualify, qualify, reject
from funnelbridge.lifecycle.deals import lose_deal, move_deal, open_deal, win_deal
from funnelbridge.lifecycle.model import Actor, QueueItem
from funnelbridge.lifecycle.queue import sales_queue
from funnelbridge.runtime import Runtime

__all__ = ["Rep", "SalesFloor", "work_day"]


@dataclass(frozen=True)
class Rep:
    user_id: int
    email: str
    team: str
    capacity_per_week: int
    diligence: float

    @property
    def actor(self) -> Actor:
        return Actor(self.email, "sales")


@dataclass
class SalesFloor:
    """The reps, the marketing user who records advocacy, the follow-up agenda and what happened so far."""

    world: World
    reps: list[Rep]
    marketer: Actor
    start: date
    agenda: Agenda = field(default_factory=Agenda)
    counts: Counter[str] = field(default_factory=Counter)
    _next: int = 0

    def __post_init__(self) -> None:
        self._by_id = {rep.user_id: rep for rep in self.reps}
        self._by_email = {rep.email: rep for rep in self.reps}

    def rep_for(self, owner_id: int | None) -> Rep:
        """The lead's owner, or (unowned, or owned by someone off the floor) the next rep in turn."""
        owner = self._by_id.get(owner_id) if owner_id is not None else None
        if owner is not None:
            return owner
        self._next += 1
        return self.reps[self._next % len(self.reps)]

    def rep_named(self, email: str) -> Rep:
        return self._by_email[email]


def _attempt(floor: SalesFloor, what: str, call: Callable[[], Any]) -> Any:
    """Run one lifecycle command; a refusal by the engine is counted, not raised."""
    try:
        result = call()
    except (DomainError, NotFoundError, InputError):
        floor.counts[f"skipped_{what}"] += 1
        return None
    floor.counts[what] += 1
    return result


def _key(floor: SalesFloor, what: str, ident: int, day: int) -> str:
    return f"demo-{floor.world.shape.seed}-{what}-{ident}-{day}"


def _triage_one(rt: Runtime, floor: SalesFloor, item: QueueItem, rep: Rep, day: int, r: random.Random) -> None:
    pid = pid_from_email(item.email or "")
    if pid is None or pid >= floor.world.n_people:
        return
    cid, actor, key = item.contact_id, rep.actor, _key(floor, "triage", item.contact_id, day)
    verdict = triage(floor.world, pid, day, r)
    reason = verdict.reason or ""
    if verdict.action == "disqualify":
        _attempt(floor, "disqualified", lambda: disqualify(rt, cid, actor, reason, idempotency_key=key))
    elif verdict.action == "reject":
        _attempt(floor, "rejected", lambda: reject(rt, cid, actor, reason, idempotency_key=key))
    elif _attempt(floor, "accepted", lambda: accept(rt, cid, actor, idempotency_key=key)) is not None:
        call = discovery(floor.world, pid, day, r)
        if call.qualified and call.bant is not None:
            floor.agenda.plan(day + call.after_days, "qualify", pid, cid, rep.email, bant=tuple(call.bant.items()))


def _triage(rt: Runtime, floor: SalesFloor, day: int, r: random.Random) -> None:
    budget = {rep.user_id: max(1, rep.capacity_per_week // 5) for rep in floor.reps}
    for item in sales_queue(rt):
        rep = floor.rep_for(item.owner_id)
        if budget[rep.user_id] <= 0 or r.random() > rep.diligence:
            continue
        budget[rep.user_id] -= 1
        _triage_one(rt, floor, item, rep, day, r)


def _open(rt: Runtime, floor: SalesFloor, task: Task, rep: Rep, day: int, r: random.Random) -> None:
    plan = deal_plan(floor.world, task.pid, day, r)
    account = int(floor.world.account[task.pid])
    company = account_name(floor.world, account) if account >= 0 else f"lead {task.contact_id}"
    close = floor.start + timedelta(days=day + sum(gap for _, gap in plan.steps) + plan.close_after)
    opening = partial(
        open_deal, rt, task.contact_id, rep.actor, amount=plan.amount, expected_close=close,
        name=f"{company} — funnelbridge", idempotency_key=_key(floor, "deal", task.contact_id, day),
    )  # fmt: skip
    deal = _attempt(floor, "deals_opened", opening)
    if deal is not None:
        _next_deal_step(floor, task, deal.deal_id, plan, 0, day)


def _next_deal_step(floor: SalesFloor, task: Task, deal_id: int, plan: DealPlan, step: int, day: int) -> None:
    """Plan the deal's next move (or, past its last stage, its close)."""
    last = step >= len(plan.steps)
    due = day + (plan.close_after if last else plan.steps[step][1])
    kind: TaskKind = "close_deal" if last else "move_deal"
    floor.agenda.plan(due, kind, task.pid, task.contact_id, task.rep, deal_id=deal_id, plan=plan, step=step)


def _close(rt: Runtime, floor: SalesFloor, task: Task, rep: Rep, day: int, r: random.Random) -> None:
    plan, deal_id, key = task.plan, task.deal_id, _key(floor, "close", task.deal_id or 0, day)
    assert plan is not None and deal_id is not None
    if not plan.won:
        lose = partial(lose_deal, rt, deal_id, rep.actor, plan.loss_reason or "no_decision", plan.competitor)
        _attempt(floor, "deals_lost", partial(lose, idempotency_key=key))
        return
    if _attempt(floor, "deals_won", lambda: win_deal(rt, deal_id, rep.actor, idempotency_key=key)) is not None:
        adv = advocacy(floor.world, task.pid, r)
        if adv.advocates:
            floor.agenda.plan(day + adv.after_days, "advocate", task.pid, task.contact_id, task.rep)


def _run(rt: Runtime, floor: SalesFloor, task: Task, day: int, r: random.Random) -> None:
    rep, cid = floor.rep_named(task.rep), task.contact_id
    if task.kind == "qualify":
        key = _key(floor, "qualify", cid, day)
        if _attempt(floor, "qualified", lambda: qualify(rt, cid, rep.actor, dict(task.bant), idempotency_key=key)):
            floor.agenda.plan(day + 1 + r.randint(0, 4), "open_deal", task.pid, cid, rep.email)
    elif task.kind == "open_deal":
        _open(rt, floor, task, rep, day, r)
    elif task.kind == "move_deal" and task.plan is not None and task.deal_id is not None:
        deal_id, stage = task.deal_id, task.plan.steps[task.step][0]
        key = _key(floor, "move", deal_id, day)
        if _attempt(floor, "deal_moves", lambda: move_deal(rt, deal_id, rep.actor, stage, idempotency_key=key)):
            _next_deal_step(floor, task, deal_id, task.plan, task.step + 1, day)
    elif task.kind == "close_deal":
        _close(rt, floor, task, rep, day, r)
    elif task.kind == "advocate":
        key = _key(floor, "advocate", cid, day)
        _attempt(floor, "advocated", lambda: advocate(rt, cid, floor.marketer, idempotency_key=key))


def work_day(rt: Runtime, floor: SalesFloor, day: int) -> None:
    """One working day (weekends are off): follow-ups due first, then the queue within each rep's capacity."""
    if (floor.start + timedelta(days=day)).weekday() >= 5:
        return
    r = random.Random(f"floor-{floor.world.shape.seed}-{day}")
    for task in floor.agenda.due(day):
        _run(rt, floor, task, day, r)
    _triage(rt, floor, day, r)
