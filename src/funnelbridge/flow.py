"""What happens after activity lands: each touched contact is re-scored, then moved through the lifecycle.

Ingestion (event intake and imports) calls :func:`after_activity` inside its own transaction, so the events,
the new scores, the stage moves and the automation they trigger commit — or roll back — together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection

from funnelbridge.runtime import Runtime

__all__ = ["FlowResult", "after_activity"]


@dataclass(frozen=True)
class FlowResult:
    """How many contacts were scored and how many stage transitions followed."""

    scored: int
    transitions: int


def after_activity(rt: Runtime, conn: Connection, contact_ids: Iterable[int]) -> FlowResult:
    """Score each contact (``score_contact``), then ``advance`` it, in the caller's transaction."""
    from funnelbridge.lifecycle import advance
    from funnelbridge.scoring.service import score_contact

    scored = moves = 0
    for contact_id in contact_ids:
        score_contact(rt, conn, contact_id)
        scored += 1
        moves += len(advance(rt, conn, contact_id))
    return FlowResult(scored, moves)
