"""What happens after activity lands: the touched contacts are re-scored (rules, then the active predictive model
if there is one), then moved through the lifecycle.

Ingestion (event intake and imports) calls :func:`after_activity` inside its own transaction, so the events,
the new scores, the stage moves and the automation they trigger commit — or roll back — together.

The work is batched: the leads' contacts, accounts, stored scores with their incremental states and only their new
events are read in a few queries per chunk (:func:`funnelbridge.scoring.incremental_store.score_leads`), scored in
memory, written in one executemany; their pipeline states are read in one query, and the stage criteria get the
facts scoring already has (with the new score and the event aggregates the state keeps). All moves of the batch
are decided first and then written with one executemany per table (new states, moved states, transitions), their
events published in contact order (:mod:`funnelbridge.lifecycle.batch`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import Connection, bindparam, select

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.rules.facts import LeadFacts, shared_facts
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import model_versions, scores

__all__ = ["FlowResult", "after_activity"]


@dataclass(frozen=True)
class FlowResult:
    """How many contacts were scored and how many stage transitions followed."""

    scored: int
    transitions: int


def _model_active(conn: Connection) -> bool:
    return conn.execute(select(model_versions.c.version).where(model_versions.c.active.is_(True))).first() is not None


_PROBABILITIES = select(scores.c.contact_id, scores.c.probability).where(
    scores.c.contact_id.in_(bindparam("ids", expanding=True)), scores.c.score_group == "main"
)


def _with_probabilities(conn: Connection, facts: dict[int, LeadFacts]) -> dict[int, LeadFacts]:
    """The facts with the probability the model just stored (the criteria may read ``score.probability``)."""
    ids, fresh = list(facts), {}
    for i in range(0, len(ids), 500):
        fresh.update({int(cid): p for cid, p in conn.execute(_PROBABILITIES, {"ids": ids[i : i + 500]})})
    out = {}
    for cid, f in facts.items():
        score = {**(f.score or {}), "probability": fresh.get(cid)}
        out[cid] = LeadFacts(f.contact, f.account, score, f.bant, f.events, f.as_of, f.aggregates)
    return out


def after_activity(rt: Runtime, conn: Connection, contact_ids: Iterable[int]) -> FlowResult:
    """Score the contacts (``score_contacts``; then the active model's probability, so criteria may use
    ``score.probability``), then move them all as ``advance`` would each (set-based:
    :func:`~funnelbridge.lifecycle.batch.advance_many`), in the caller's transaction."""
    from funnelbridge.lifecycle.batch import advance_many
    from funnelbridge.scoring.incremental_store import score_leads
    from funnelbridge.scoring.service import store_scored
    from funnelbridge.store.pipeline import states_of

    ids = list(dict.fromkeys(contact_ids))
    # One "now" for the whole batch, so scoring and the stage criteria see the same moment.
    pinned = replace(rt, clock=FrozenClock(rt.clock.now()))
    with shared_facts():
        scored = score_leads(pinned.playbook, conn, ids, pinned.clock.now())
        store_scored(pinned, conn, scored, results=False)
        facts = {s.contact_id: s.facts for s in scored}
        if ids and _model_active(conn):
            from funnelbridge.scoring.predictive.store_scoring import model_score_contacts

            model_score_contacts(pinned, conn, ids)
            facts = _with_probabilities(conn, facts)
        states = states_of(conn, ids)
        moves = advance_many(pinned, conn, ids, facts=facts, states=states)
    return FlowResult(len(ids), len(moves))
