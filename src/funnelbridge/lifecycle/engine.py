"""Making one legal move: append the transition, update the projection under its optimistic version, publish
StageLeft/StageEntered — all on the caller's connection (the caller owns the transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from funnelbridge.domain.clock import as_utc
from funnelbridge.domain.events import StageEntered, StageLeft
from funnelbridge.errors import InputError, NotFoundError
from funnelbridge.lifecycle.model import Actor, Transition
from funnelbridge.lifecycle.table import Rule, TransitionTable, table_for
from funnelbridge.runtime import Runtime
from funnelbridge.store.pipeline import PipelineState, get_state, insert_state, update_state
from funnelbridge.store.tables import contacts
from funnelbridge.store.transitions import insert_transition

__all__ = [
    "MoveRequest",
    "apply_move",
    "build_transition",
    "pipeline_name",
    "publish_move",
    "require_contact",
    "require_state",
    "table_of",
]


@dataclass(frozen=True)
class MoveRequest:
    """What a command asks for, beyond the rule: who, when, why."""

    actor: Actor
    at: datetime
    reason: str | None = None
    note: str | None = None
    idempotency_key: str | None = None


def pipeline_name(rt: Runtime, pipeline: str | None) -> str:
    """The named pipeline (checked), or the playbook's first."""
    if pipeline is None:
        return rt.playbook.main_name
    if pipeline not in rt.playbook.pipelines:
        known = ", ".join(rt.playbook.pipelines)
        raise InputError(f"no pipeline {pipeline!r} in the playbook (pipelines: {known})", field="pipeline")
    return pipeline


def table_of(rt: Runtime, pipeline: str) -> TransitionTable:
    return table_for(rt.playbook.pipelines[pipeline], rt.playbook.handoff, pipeline)


def require_contact(conn: Connection, contact_id: int) -> None:
    found = conn.execute(select(contacts.c.id).where(contacts.c.id == contact_id)).first()
    if found is None:
        raise NotFoundError(f"no contact {contact_id}")


def require_state(conn: Connection, contact_id: int, pipeline: str) -> PipelineState:
    state = get_state(conn, contact_id, pipeline)
    if state is None:
        require_contact(conn, contact_id)
        raise NotFoundError(f"contact {contact_id} has no stage in pipeline {pipeline!r} yet")
    return state


def build_transition(
    rt: Runtime, state: PipelineState | None, rule: Rule, move: MoveRequest, *, contact_id: int, pipeline: str
) -> Transition:
    """The transition ``rule``'s move makes (not stored yet); a move back in time raises :class:`InputError`."""
    at = as_utc(move.at)
    if state is not None and at < state.entered_at:
        raise InputError(
            f"{at.isoformat()} is before the contact entered {state.stage!r} ({state.entered_at.isoformat()})",
            record=f"contact {contact_id}",
            field="at",
        )
    journey = 1 if state is None else state.journey + (1 if rule.new_journey else 0)
    return Transition(
        contact_id=contact_id,
        pipeline=pipeline,
        journey=journey,
        from_stage=state.stage if state else None,
        to_stage=rule.to_stage,
        at=at,
        actor=move.actor.name,
        actor_role=move.actor.role,
        reason=move.reason,
        note=move.note,
        skipped=rule.skipped,
        playbook_version=rt.playbook.version,
        idempotency_key=move.idempotency_key,
        kind=rule.move.value,
    )


def publish_move(rt: Runtime, conn: Connection, state: PipelineState | None, t: Transition, move: MoveRequest) -> None:
    """Publish StageLeft (unless it is the contact's first stage) and StageEntered for a stored move."""
    if state is not None:
        rt.bus.publish(conn, StageLeft(t.contact_id, t.at, t.pipeline, state.stage, t.to_stage))
    entered = StageEntered(
        t.contact_id, t.at, t.pipeline, t.to_stage, t.from_stage, t.journey, move.actor.name, move.reason
    )
    rt.bus.publish(conn, entered)


def apply_move(
    rt: Runtime,
    conn: Connection,
    state: PipelineState | None,
    rule: Rule,
    move: MoveRequest,
    *,
    contact_id: int,
    pipeline: str,
) -> Transition:
    """Record ``rule``'s move for the contact (state None: its first stage in the pipeline). For many automatic
    moves at once, :func:`funnelbridge.lifecycle.batch.advance_many` writes the same rows in a few statements."""
    t = build_transition(rt, state, rule, move, contact_id=contact_id, pipeline=pipeline)
    if state is None:
        insert_state(conn, PipelineState(contact_id, pipeline, t.to_stage, t.at, t.journey, last_activity_at=t.at))
    else:
        update_state(conn, state, stage=t.to_stage, entered_at=t.at, journey=t.journey)
    stored = insert_transition(conn, t)
    publish_move(rt, conn, state, stored, move)
    return stored
