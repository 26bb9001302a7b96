"""What happens after activity lands: each touched contact is re-scored (rules, then the active predictive model
if there is one), then moved through the lifecycle.

Ingestion (event intake and imports) calls :func:`after_activity` inside its own transaction, so the events,
the new scores, the stage moves and the automation they trigger commit — or roll back — together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select

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
    for contact_id in ids:
        score_contact(rt, conn, contact_id)
    if ids and _model_active(conn):
        from funnelbridge.scoring.predictive.store_scoring import model_score_contacts

        model_score_contacts(rt, conn, ids)
    moves = sum(len(advance(rt, conn, contact_id)) for contact_id in ids)
    return FlowResult(len(ids), moves)
