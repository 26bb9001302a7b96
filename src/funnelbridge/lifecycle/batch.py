"""Automatic moves for many contacts at once, set-based: decide every contact's move first (:func:`plan_move`, the
same decision :func:`~funnelbridge.lifecycle.advance.advance` makes), then write all new pipeline states, all
moved states and all transitions with one executemany each, then publish StageLeft/StageEntered for each move in
contact order (automation's SLA timers and rule actions run in those handlers, as after a single move; a handler
that can take the events of a batch together — automation — is told so, with the leads' facts, and then stores
the timers and outbox rows of all the batch's moves with one executemany each).

The result is the one :func:`advance` gives contact by contact — the same transitions (ids in the same order),
states, published events, timers and outbox rows — because a decision reads only the contact's own rows (its
facts, state, newest event and last transition), which other contacts' moves and their automation do not touch,
and the handlers of one contact's move read nothing another contact's move writes. The one exception is a contact
that moves in a pipeline before the playbook's last: ``advance`` reads its further pipelines afresh after that
move (its automation ran in between), so such a contact is moved on its own, after the moves planned before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection

from funnelbridge.lifecycle.advance import Planned, advance, plan_move
from funnelbridge.lifecycle.engine import build_transition, publish_move
from funnelbridge.lifecycle.model import Transition
from funnelbridge.rules.facts import LeadFacts
from funnelbridge.runtime import Runtime
from funnelbridge.store.pipeline import PipelineState, insert_states, move_states
from funnelbridge.store.transitions import insert_transitions

__all__ = ["BatchingHandler", "advance_many", "handlers_batched", "write_moves"]


def advance_many(
    rt: Runtime,
    conn: Connection,
    contact_ids: Iterable[int],
    *,
    facts: Mapping[int, LeadFacts],
    states: Mapping[tuple[int, str], PipelineState],
) -> list[Transition]:
    """Make the automatic moves the criteria allow now for every contact, in every pipeline, in the caller's
    transaction; ``facts`` and ``states`` as for :func:`advance` (read beforehand, by contact). Returns the
    transitions made, in the order ``advance`` contact after contact would have made them."""
    names = list(rt.playbook.pipelines)
    made: list[Transition] = []
    planned: list[Planned] = []
    for cid in dict.fromkeys(contact_ids):
        mine, alone = _plan_contact(rt, conn, cid, names, facts.get(cid), states)
        if alone:
            made += write_moves(rt, conn, planned, facts=facts)
            planned = []
            made += advance(rt, conn, cid, facts=facts.get(cid), states=states)
        else:
            planned += mine
    return made + write_moves(rt, conn, planned, facts=facts)


def _plan_contact(
    rt: Runtime,
    conn: Connection,
    cid: int,
    names: Sequence[str],
    facts: LeadFacts | None,
    states: Mapping[tuple[int, str], PipelineState],
) -> tuple[list[Planned], bool]:
    """The contact's moves, and whether it must be moved on its own (a move before the last pipeline)."""
    mine = []
    for i, name in enumerate(names):
        move = plan_move(rt, conn, cid, name, states.get((cid, name)), facts)
        if move is not None and i < len(names) - 1:
            return [], True
        if move is not None:
            mine.append(move)
    return mine, False


@runtime_checkable
class BatchingHandler(Protocol):
    """A bus handler that can take the events of many moves as one batch (automation's handler)."""

    def batch(self, conn: Connection, facts: Mapping[int, Any] | None = None) -> AbstractContextManager[Any]: ...


@contextmanager
def handlers_batched(rt: Runtime, conn: Connection, facts: Mapping[int, LeadFacts] | None = None) -> Iterator[None]:
    """Within the block, the bus's handlers that take batches (automation) handle what is published as one batch:
    its outbox rows and timers stored when the block ends, users read once (``facts``: the leads' facts now, when
    the caller has them)."""
    with ExitStack() as stack:
        for handler in rt.bus.handlers:
            if isinstance(handler, BatchingHandler):
                stack.enter_context(handler.batch(conn, facts))
        yield


def write_moves(
    rt: Runtime, conn: Connection, planned: Sequence[Planned], *, facts: Mapping[int, LeadFacts] | None = None
) -> list[Transition]:
    """Store planned moves (of distinct contact/pipeline pairs) set-based, then publish their events in order, as
    one batch to handlers that take batches (``facts``: the leads' facts now, when the caller has them)."""
    if not planned:
        return []
    built = [
        build_transition(rt, p.state, p.rule, p.move, contact_id=p.contact_id, pipeline=p.pipeline) for p in planned
    ]
    entering = [
        PipelineState(t.contact_id, t.pipeline, t.to_stage, t.at, t.journey, last_activity_at=t.at)
        for p, t in zip(planned, built, strict=True)
        if p.state is None
    ]
    insert_states(conn, entering)
    move_states(conn, [(p.state, t.to_stage, t.at, t.journey) for p, t in zip(planned, built, strict=True) if p.state])
    stored = insert_transitions(conn, built)
    with handlers_batched(rt, conn, facts):
        for p, t in zip(planned, stored, strict=True):
            publish_move(rt, conn, p.state, t, p.move)
    return stored
