"""What happens after activity lands: each touched contact is re-scored (rules, then the active predictive model
if there is one), then moved through the lifecycle.

Ingestion (event intake and imports) calls :func:`after_activity` inside its own transaction, so the events,
the new scores, the stage moves and the automation they trigger commit — or roll back — together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import Connection, select

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.rules.facts import shared_facts
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import model_versions

__all__ = ["FlowResult", "after_activity"]


@dataclass(frozen=True)
class FlowResult:
    """How many contacts were scored and how many stage transitions followed."""

    scored: int
    transitions: int


def _model_active(conn: Connection) -> bool:
    return conn.execute(select(model_versions.c.version).where(model_versions.c.active.is_(True))).first() is not None


def after_activity(rt: Runtime, conn: Connection, contact_ids: Iterable[int]) -> FlowResult:
    """Score each contact (``score_contact``; then the active model's probability, so criteria may use
    ``score.probability``), then ``advance`` it, in the caller's transaction."""
    from funnelbridge.lifecycle import advance
    from funnelbridge.scoring.service import score_contact

    ids = list(contact_ids)
    # One "now" for the whole batch, so scoring and the stage criteria see the same moment and share each lead's
    # facts (read once instead of twice).
    pinned = replace(rt, clock=FrozenClock(rt.clock.now()))
    with shared_facts():
        for contact_id in ids:
            score_contact(pinned, conn, contact_id)
        if ids and _model_active(conn):
            from funnelbridge.scoring.predictive.store_scoring import model_score_contacts

            model_score_contacts(pinned, conn, ids)
        moves = sum(len(advance(pinned, conn, contact_id)) for contact_id in ids)
    return FlowResult(len(ids), moves)
