"""Account scores rolled up from their contacts' stored scores (buying-group views).

``scoring.account_rollup`` chooses how: ``max`` (the most engaged person speaks for the account), ``sum`` (the
whole buying group counts) or ``avg``. Merged-away contacts and contacts without a stored score are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, func, select

from funnelbridge.playbook.schema import Playbook
from funnelbridge.store.tables import contacts, scores

__all__ = ["AccountScore", "account_scores"]

_ROLLUPS: dict[str, Any] = {"max": func.max, "sum": func.sum, "avg": func.avg}


@dataclass(frozen=True)
class AccountScore:
    """One account's rolled-up score and its buying group at a glance."""

    account_id: int
    score: float
    engagement: float
    contacts: int
    mql_eligible: int
    hot: int


def account_scores(
    conn: Connection, playbook: Playbook, *, group: str = "main", account_ids: list[int] | None = None
) -> list[AccountScore]:
    """Rolled-up scores of every account with scored contacts (or of ``account_ids``), highest first."""
    roll = _ROLLUPS[playbook.scoring.account_rollup]
    query: Any = (
        select(
            contacts.c.account_id,
            roll(scores.c.total),
            roll(scores.c.engagement),
            func.count(),
            func.sum(case((scores.c.mql_eligible.is_(True), 1), else_=0)),
            func.sum(case((scores.c.temperature == "hot", 1), else_=0)),
        )
        .select_from(scores.join(contacts, contacts.c.id == scores.c.contact_id))
        .where(scores.c.score_group == group, contacts.c.account_id.is_not(None), contacts.c.merged_into.is_(None))
        .group_by(contacts.c.account_id)
    )
    if account_ids is not None:
        query = query.where(contacts.c.account_id.in_(account_ids))
    rows = [
        AccountScore(int(r[0]), float(r[1]), float(r[2]), int(r[3]), int(r[4] or 0), int(r[5] or 0))
        for r in conn.execute(query)
    ]
    return sorted(rows, key=lambda a: (-a.score, a.account_id))
