"""Stage commands made by people (accept, reject, qualify, disqualify, advocate), each owning its transaction.

Every command takes an optional ``idempotency_key`` (replaying a command with the same key returns the stored
transition and changes nothing) and an optional ``at`` (defaults to ``rt.clock.now()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, select, update

from funnelbridge.errors import ConflictError, InputError
from funnelbridge.lifecycle.engine import MoveRequest, apply_move, pipeline_name, require_state, table_of
from funnelbridge.lifecycle.model import Actor, Transition
from funnelbridge.lifecycle.table import Move, TransitionTable
from funnelbridge.rules.facts import BANT_KEYS
from funnelbridge.runtime import Runtime
from funnelbridge.store.pipeline import PipelineState, all_states
from funnelbridge.store.tables import contacts
from funnelbridge.store.transitions import by_key, trail

__all__ = ["accept", "advocate", "disqualify", "qualify", "recycle", "reject"]


def _replayed(conn: Connection, key: str | None, contact_id: int) -> Transition | None:
    done = by_key(conn, key) if key else None
    if done is not None and done.contact_id != contact_id:
        raise ConflictError(f"idempotency key {key!r} was already used for contact {done.contact_id}")
    return done


def _not_taken(conn: Connection, table: TransitionTable, state: PipelineState, move: Move) -> None:
    """Two reps deciding on the same MQL: the second learns who decided first."""
    queue = table.roles.queue
    if move not in (Move.ACCEPT, Move.REJECT) or queue is None or state.stage == queue:
        return
    moves = trail(conn, [state.contact_id], state.pipeline)
    last = next((t for t in reversed(moves) if t.from_stage == queue and t.journey == state.journey), None)
    if last is not None:
        verb = "accepted" if last.to_stage == table.roles.handoff else f"moved to {last.to_stage}"
        raise ConflictError(
            f"contact {state.contact_id} was already {verb} by {last.actor} at {last.at.isoformat()} "
            f"(now in {state.stage!r})"
        )


def _command(
    rt: Runtime,
    contact_id: int,
    move: Move,
    actor: Actor,
    *,
    pipeline: str | None,
    reason: str | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> Transition:
    with rt.db.transaction() as conn:
        done = _replayed(conn, idempotency_key, contact_id)
        if done is not None:
            return done
        name = pipeline_name(rt, pipeline)
        table = table_of(rt, name)
        state = require_state(conn, contact_id, name)
        _not_taken(conn, table, state, move)
        rule = table.find(move, state.stage)
        table.check(rule, actor, reason=reason)
        request = MoveRequest(actor, at or rt.clock.now(), reason, note, idempotency_key)
        return apply_move(rt, conn, state, rule, request, contact_id=contact_id, pipeline=name)


def accept(
    rt: Runtime,
    contact_id: int,
    actor: Actor,
    *,
    pipeline: str | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> Transition:
    """A rep takes an MQL from the queue (MQL → SAL). A concurrent second accept raises ConflictError."""
    return _command(
        rt, contact_id, Move.ACCEPT, actor, pipeline=pipeline, note=note, idempotency_key=idempotency_key, at=at
    )


def reject(
    rt: Runtime,
    contact_id: int,
    actor: Actor,
    reason: str,
    *,
    pipeline: str | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> Transition:
    """A rep sends an MQL back to nurture (→ recycled) with a reason from ``handoff.reject_reasons``."""
    return _command(
        rt,
        contact_id,
        Move.REJECT,
        actor,
        pipeline=pipeline,
        reason=reason,
        note=note,
        idempotency_key=idempotency_key,
        at=at,
    )


def recycle(
    rt: Runtime,
    contact_id: int,
    actor: Actor,
    reason: str,
    *,
    pipeline: str | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> Transition:
    """Send a lead back to long-term nurture (→ recycled) from any stage before the customer stage, with a reason
    from ``handoff.reject_reasons`` or ``stalled`` — e.g. an automation rule's ``{move: recycled}``."""
    return _command(
        rt,
        contact_id,
        Move.RECYCLE,
        actor,
        pipeline=pipeline,
        reason=reason,
        note=note,
        idempotency_key=idempotency_key,
        at=at,
    )


def advocate(
    rt: Runtime,
    contact_id: int,
    actor: Actor,
    *,
    pipeline: str | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> Transition:
    """A customer refers, reviews or advocates (customer → evangelist)."""
    return _command(
        rt, contact_id, Move.ADVOCATE, actor, pipeline=pipeline, note=note, idempotency_key=idempotency_key, at=at
    )


def _bant_values(bant: Mapping[str, str | None]) -> dict[str, str | None]:
    unknown = sorted(set(bant) - set(BANT_KEYS))
    if unknown:
        raise InputError(f"unknown BANT fields {', '.join(unknown)} (use {', '.join(BANT_KEYS)})", field="bant")
    return {f"bant_{k}": (v.strip() or None) if isinstance(v, str) else v for k, v in bant.items()}


def _store_bant(conn: Connection, contact_id: int, bant: Mapping[str, str | None], at: datetime) -> dict[str, object]:
    """Write the given BANT answers on the contact and return every answer it now has (as ``bant.<key>``)."""
    values = _bant_values(bant)
    c = contacts.c
    if values:
        conn.execute(update(contacts).where(c.id == contact_id).values(**values, updated_at=at, version=c.version + 1))
    row = conn.execute(select(*(c[f"bant_{k}"] for k in BANT_KEYS)).where(c.id == contact_id)).one()
    return {f"bant.{k}": row._mapping[f"bant_{k}"] for k in BANT_KEYS}


def qualify(
    rt: Runtime,
    contact_id: int,
    actor: Actor,
    bant: Mapping[str, str | None],
    *,
    pipeline: str | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> Transition:
    """Record BANT answers on the lead and move it to the qualify stage (SAL → SQL); every field the stage
    ``requires`` must then be filled, or nothing is stored."""
    with rt.db.transaction() as conn:
        done = _replayed(conn, idempotency_key, contact_id)
        if done is not None:
            return done
        name = pipeline_name(rt, pipeline)
        table = table_of(rt, name)
        state = require_state(conn, contact_id, name)
        rule = table.find(Move.QUALIFY, state.stage)
        when = at or rt.clock.now()
        table.check(rule, actor, fields=_store_bant(conn, contact_id, bant, when))
        request = MoveRequest(actor, when, None, note, idempotency_key)
        return apply_move(rt, conn, state, rule, request, contact_id=contact_id, pipeline=name)


def disqualify(
    rt: Runtime,
    contact_id: int,
    actor: Actor,
    reason: str,
    *,
    pipeline: str | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> list[Transition]:
    """Disqualify from any stage with a reason from ``handoff.disqualify_reasons`` — in ``pipeline``, or in every
    pipeline the contact is in (the key of pipeline ``p`` beyond the first is ``<key>#<p>``)."""
    with rt.db.transaction() as conn:
        done = _replayed(conn, idempotency_key, contact_id)
        if done is not None:
            return [done]
        if pipeline is not None:
            states = [require_state(conn, contact_id, pipeline_name(rt, pipeline))]
        else:
            states = [s for s in all_states(conn, contact_id) if s.pipeline in rt.playbook.pipelines]
            states = states or [require_state(conn, contact_id, rt.playbook.main_name)]
        made = []
        for i, state in enumerate(states):
            table = table_of(rt, state.pipeline)
            rule = table.find(Move.DISQUALIFY, state.stage)
            table.check(rule, actor, reason=reason)
            key = idempotency_key if i == 0 or idempotency_key is None else f"{idempotency_key}#{state.pipeline}"
            request = MoveRequest(actor, at or rt.clock.now(), reason, note, key)
            made.append(apply_move(rt, conn, state, rule, request, contact_id=contact_id, pipeline=state.pipeline))
        return made
