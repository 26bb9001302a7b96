"""Deals: open (SQL → opportunity), move through the deal stages, win (→ customer) or lose (→ recycled after the
playbook's ``recycle_after.lost`` cool-down, as a ``recycle`` timer that :func:`recycle_due` fires).

Deal stages are the pipeline's ``deal_stages`` (prospecting → qualification → meeting → proposal → negotiation)
plus ``closed_won`` / ``closed_lost``. Each change is an append-only ``deal_changes`` row; commands take an
optional ``idempotency_key`` (a replay returns the deal unchanged) and an optional ``at``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import Connection, select

from funnelbridge.domain.durations import parse_duration
from funnelbridge.domain.events import DealLost, DealStageChanged, DealWon
from funnelbridge.errors import IllegalTransitionError, InputError
from funnelbridge.lifecycle.advance import Planned
from funnelbridge.lifecycle.batch import write_moves
from funnelbridge.lifecycle.engine import MoveRequest, apply_move, pipeline_name, require_state, table_of
from funnelbridge.lifecycle.model import SYSTEM, Actor, DealResult, Transition
from funnelbridge.lifecycle.table import Move, Rule, TransitionTable
from funnelbridge.runtime import Runtime
from funnelbridge.store import deals as repo
from funnelbridge.store.pipeline import PipelineState, get_state, states_of
from funnelbridge.store.tables import contacts

__all__ = ["LOST", "WON", "lose_deal", "move_deal", "open_deal", "recycle_due", "win_deal"]

WON, LOST = "closed_won", "closed_lost"


def _result(deal: repo.DealRow, made: tuple[Transition, ...] = (), replayed: bool = False) -> DealResult:
    return DealResult(
        deal.id,
        deal.contact_id,
        deal.pipeline,
        deal.stage,
        deal.status,
        deal.amount,
        deal.currency,
        deal.probability,
        made,
        replayed,
    )


def _money(amount: object, currency: str) -> tuple[Decimal, str]:
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise InputError(f"expected a number, got {amount!r}", record="deal", field="amount") from None
    if not value.is_finite() or value < 0:
        raise InputError(f"must be a non-negative amount, got {amount!r}", record="deal", field="amount")
    if len(currency) != 3 or not currency.isalpha():
        raise InputError(f"expected a 3-letter ISO 4217 code, got {currency!r}", record="deal", field="currency")
    return value.quantize(Decimal("0.01")), currency.upper()


def _deal_rule(table: TransitionTable, actor: Actor) -> Rule:
    """Deal commands are governed by the win rule's roles (who works deals in this pipeline)."""
    rule = next((r for r in table.rules if r.move is Move.WIN), None)
    if rule is None:
        raise IllegalTransitionError(f"pipeline {table.pipeline!r} has no customer stage to win deals into")
    table.check(rule, actor)
    return rule


def _probability(rt: Runtime, pipeline: str, stage: str, given: float | None) -> float:
    stages = {s.id: s.probability for s in rt.playbook.pipelines[pipeline].deal_stages}
    if stage not in stages:
        raise InputError(f"unknown deal stage {stage!r} (stages: {', '.join(stages)})", record="deal", field="stage")
    if given is not None and not 0 <= given <= 1:
        raise InputError(f"must be between 0 and 1, got {given}", record="deal", field="probability")
    return stages[stage] if given is None else given


def _change(conn: Connection, deal_id: int, frm: str | None, to: str, amount: Decimal | None, **kw: object) -> None:
    repo.insert_change(conn, {"deal_id": deal_id, "from_stage": frm, "to_stage": to, "amount": amount, **kw})


def _replay(conn: Connection, key: str | None) -> DealResult | None:
    done = repo.change_by_key(conn, key) if key else None
    return _result(repo.get_deal(conn, done.deal_id), replayed=True) if done else None


def open_deal(
    rt: Runtime,
    contact_id: int,
    actor: Actor,
    *,
    amount: Decimal | float | str,
    currency: str = "USD",
    expected_close: date | None = None,
    name: str | None = None,
    stage: str | None = None,
    probability: float | None = None,
    pipeline: str | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> DealResult:
    """Open a deal for a qualified lead; from SQL this moves the lead to the opportunity stage."""
    with rt.db.transaction() as conn:
        if (done := _replay(conn, idempotency_key)) is not None:
            return done
        pname = pipeline_name(rt, pipeline)
        table = table_of(rt, pname)
        state = require_state(conn, contact_id, pname)
        if state.stage not in table.roles.deal_from:
            allowed = ", ".join(table.roles.deal_from)
            raise IllegalTransitionError(f"rule 'open_deal' opens deals from {allowed}; contact is in {state.stage!r}")
        _deal_rule(table, actor)
        value, cur = _money(amount, currency)
        first = stage or rt.playbook.pipelines[pname].deal_stages[0].id
        prob = _probability(rt, pname, first, probability)
        when = at or rt.clock.now()
        row = conn.execute(select(contacts.c.account_id, contacts.c.email).where(contacts.c.id == contact_id)).one()
        values = {
            "contact_id": contact_id,
            "account_id": row.account_id,
            "pipeline": pname,
            "name": name or f"{row.email or f'contact {contact_id}'} deal",
            "amount": value,
            "currency": cur,
            "stage": first,
            "probability": prob,
            "expected_close": expected_close,
            "opened_at": when,
            "status": "open",
        }
        deal_id = repo.insert_deal(conn, values)
        _change(conn, deal_id, None, first, value, at=when, actor=actor.name, idempotency_key=idempotency_key)
        made: tuple[Transition, ...] = ()
        if table.roles.opportunity and state.stage != table.roles.opportunity:
            rule = table.find(Move.OPEN_DEAL, state.stage)
            req = MoveRequest(actor, when, None, f"deal {deal_id}", _sub(idempotency_key, "stage"))
            made = (apply_move(rt, conn, state, rule, req, contact_id=contact_id, pipeline=pname),)
        rt.bus.publish(conn, DealStageChanged(contact_id, when, deal_id, None, first))
        return _result(repo.get_deal(conn, deal_id), made)


def _sub(key: str | None, suffix: str) -> str | None:
    return None if key is None else f"{key}#{suffix}"


def _open(deal: repo.DealRow) -> None:
    if deal.status != "open":
        raise IllegalTransitionError(f"deal {deal.id} is closed ({deal.status}); closed deals do not move")


def move_deal(
    rt: Runtime,
    deal_id: int,
    actor: Actor,
    stage: str,
    *,
    probability: float | None = None,
    amount: Decimal | float | str | None = None,
    reason: str | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> DealResult:
    """Move an open deal to another open deal stage (forward or back), optionally re-pricing it."""
    with rt.db.transaction() as conn:
        if (done := _replay(conn, idempotency_key)) is not None:
            return done
        deal = repo.get_deal(conn, deal_id)
        _open(deal)
        _deal_rule(table_of(rt, deal.pipeline), actor)
        prob = _probability(rt, deal.pipeline, stage, probability)
        value = _money(amount, deal.currency)[0] if amount is not None else deal.amount
        when = at or rt.clock.now()
        repo.update_deal(conn, deal, stage=stage, probability=prob, amount=value)
        kw = {"at": when, "actor": actor.name, "reason": reason, "idempotency_key": idempotency_key}
        _change(conn, deal_id, deal.stage, stage, value, **kw)
        if deal.contact_id is not None:
            rt.bus.publish(conn, DealStageChanged(deal.contact_id, when, deal_id, deal.stage, stage))
        return _result(repo.get_deal(conn, deal_id))


def win_deal(
    rt: Runtime,
    deal_id: int,
    actor: Actor,
    *,
    amount: Decimal | float | str | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> DealResult:
    """Close a deal as won; the lead becomes a customer (if it is not one already)."""
    with rt.db.transaction() as conn:
        if (done := _replay(conn, idempotency_key)) is not None:
            return done
        deal = repo.get_deal(conn, deal_id)
        _open(deal)
        table = table_of(rt, deal.pipeline)
        _deal_rule(table, actor)
        value = _money(amount, deal.currency)[0] if amount is not None else deal.amount
        when = at or rt.clock.now()
        repo.update_deal(conn, deal, stage=WON, status="won", probability=1.0, amount=value, closed_at=when)
        kw = {"at": when, "actor": actor.name, "reason": note, "idempotency_key": idempotency_key}
        _change(conn, deal_id, deal.stage, WON, value, **kw)
        made: tuple[Transition, ...] = ()
        if deal.contact_id is not None:
            made = _to_customer(rt, conn, table, deal, actor, when, _sub(idempotency_key, "stage"))
            rt.bus.publish(conn, DealWon(deal.contact_id, when, deal_id, float(value)))
        return _result(repo.get_deal(conn, deal_id), made)


def _to_customer(
    rt: Runtime,
    conn: Connection,
    table: TransitionTable,
    deal: repo.DealRow,
    actor: Actor,
    when: datetime,
    key: str | None,
) -> tuple[Transition, ...]:
    assert deal.contact_id is not None
    state = require_state(conn, deal.contact_id, deal.pipeline)
    stages = table.roles.stages
    if state.stage in stages and stages.index(state.stage) >= stages.index(table.roles.customer):
        return ()
    rule = table.find(Move.WIN, state.stage)
    req = MoveRequest(actor, when, "deal_won", f"deal {deal.id}", key)
    return (apply_move(rt, conn, state, rule, req, contact_id=deal.contact_id, pipeline=deal.pipeline),)


def lose_deal(
    rt: Runtime,
    deal_id: int,
    actor: Actor,
    reason: str,
    competitor: str | None = None,
    *,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> DealResult:
    """Close a deal as lost with a reason from ``handoff.loss_reasons`` (and the competitor, if any). When the
    lead has no other open deal it is recycled after ``recycle_after.lost`` (at once when that is zero)."""
    with rt.db.transaction() as conn:
        if (done := _replay(conn, idempotency_key)) is not None:
            return done
        deal = repo.get_deal(conn, deal_id)
        _open(deal)
        table = table_of(rt, deal.pipeline)
        _deal_rule(table, actor)
        reasons = rt.playbook.handoff.loss_reasons
        if reason not in reasons:
            raise IllegalTransitionError(f"rule 'lose' needs a reason from: {', '.join(reasons)} (got {reason!r})")
        when = at or rt.clock.now()
        values = {"stage": LOST, "status": "lost", "probability": 0.0, "closed_at": when}
        repo.update_deal(conn, deal, **values, loss_reason=reason, competitor=competitor)
        kw = {"at": when, "actor": actor.name, "reason": reason, "idempotency_key": idempotency_key}
        _change(conn, deal_id, deal.stage, LOST, deal.amount, **kw)
        made: tuple[Transition, ...] = ()
        if deal.contact_id is not None:
            made = _after_loss(rt, conn, table, deal, reason, when)
            rt.bus.publish(conn, DealLost(deal.contact_id, when, deal_id, reason, competitor))
        return _result(repo.get_deal(conn, deal_id), made)


def _after_loss(
    rt: Runtime, conn: Connection, table: TransitionTable, deal: repo.DealRow, reason: str, when: datetime
) -> tuple[Transition, ...]:
    assert deal.contact_id is not None
    if repo.open_deal_count(conn, deal.contact_id, deal.pipeline) > 0:
        return ()
    cool_down = parse_duration(rt.playbook.handoff.recycle_after.get("lost", "0d"))
    if cool_down.total_seconds() > 0:
        due = when + cool_down
        key = f"recycle:deal:{deal.id}"
        repo.schedule_recycle(
            conn,
            key=key,
            contact_id=deal.contact_id,
            deal_id=deal.id,
            due_at=due,
            reason=reason,
            pipeline=deal.pipeline,
        )
        return ()
    made = _recycle_lost(rt, conn, table, deal.contact_id, deal.pipeline, reason, when)
    return (made,) if made else ()


def _recycle_lost(
    rt: Runtime, conn: Connection, table: TransitionTable, contact_id: int, pipeline: str, reason: str, when: datetime
) -> Transition | None:
    state = get_state(conn, contact_id, pipeline)
    if state is None or repo.open_deal_count(conn, contact_id, pipeline) > 0:
        return None
    rule = next((r for r in table.rules if r.move is Move.RECYCLE_LOST and r.from_stage == state.stage), None)
    if rule is None:  # the lead moved on (won another deal, was disqualified, ...): nothing to recycle
        return None
    req = MoveRequest(SYSTEM, max(when, state.entered_at), reason, "deal lost")
    return apply_move(rt, conn, state, rule, req, contact_id=contact_id, pipeline=pipeline)


def recycle_due(rt: Runtime) -> int:
    """Fire the ``recycle`` timers that are due: recycle leads whose lost deal's cool-down is over (and that have
    not moved on meanwhile). Returns how many leads were recycled.

    Set-based, in one transaction: the timers' leads' states are read in one query, each timer's move decided in
    due order (a second timer of a lead already recycled here finds nothing to recycle, as it would one by one),
    the moves written with :func:`~funnelbridge.lifecycle.batch.write_moves` (their automation as one batch), and
    each timer closed as fired or, when nothing was recycled, cancelled."""

    now = rt.clock.now()
    with rt.db.transaction() as conn:
        due = repo.due_recycle_timers(conn, now)
        states = states_of(conn, sorted({t.contact_id for t in due}))
        planned: dict[tuple[int, str], Planned] = {}
        fired: list[tuple[int, bool]] = []
        for timer in due:
            pipeline = str(timer.payload.get("pipeline") or _deal_pipeline(conn, timer.deal_id, rt))
            reason = str(timer.payload.get("reason") or "lost")
            key = (timer.contact_id, pipeline)
            move = None if key in planned else _plan_lost(rt, conn, states.get(key), pipeline, reason, timer.due_at)
            if move is not None:
                planned[key] = move
            fired.append((timer.id, move is not None))
        write_moves(rt, conn, list(planned.values()))
        for timer_id, made in fired:
            repo.close_timer(conn, timer_id, now, fired=made)
    return len(planned)


def _plan_lost(
    rt: Runtime, conn: Connection, state: PipelineState | None, pipeline: str, reason: str, when: datetime
) -> Planned | None:
    """The recycle move of a lead whose lost deal's cool-down is over (None: it has an open deal or moved on)."""
    if state is None or repo.open_deal_count(conn, state.contact_id, pipeline) > 0:
        return None
    table = table_of(rt, pipeline)
    rule = next((r for r in table.rules if r.move is Move.RECYCLE_LOST and r.from_stage == state.stage), None)
    if rule is None:
        return None
    req = MoveRequest(SYSTEM, max(when, state.entered_at), reason, "deal lost")
    return Planned(state.contact_id, pipeline, state, rule, req)


def _deal_pipeline(conn: Connection, deal_id: int | None, rt: Runtime) -> str:
    return repo.get_deal(conn, deal_id).pipeline if deal_id is not None else rt.playbook.main_name
