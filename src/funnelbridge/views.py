"""Read models for the dashboard: the sales queue with score reasons, and the pipeline board of open deals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from funnelbridge.lifecycle import QueueItem, sales_queue
from funnelbridge.runtime import Runtime
from funnelbridge.store.tables import contacts, deals, scores, users

__all__ = ["BoardCard", "BoardColumn", "PipelineBoard", "QueueCard", "pipeline_board", "queue_cards", "top_reasons"]


@dataclass(frozen=True)
class QueueCard:
    item: QueueItem
    temperature: str | None
    engagement: float | None
    reasons: tuple[str, ...]
    owner: str | None


def top_reasons(explanation: Sequence[dict[str, Any]] | None, limit: int = 3) -> tuple[str, ...]:
    """The rules that gave most points, as ``"+20 senior title"`` (negative ones included)."""
    parts = sorted(explanation or (), key=lambda part: -abs(float(part.get("points") or 0)))
    return tuple(
        f"{float(p['points']):+.0f} {p.get('rule') or p.get('kind')}" for p in parts[:limit] if p.get("points")
    )


def _main_scores(conn: Connection, ids: Sequence[int]) -> dict[int, Any]:
    if not ids:
        return {}
    c = scores.c  # only what a card shows (not the incremental state, whose JSON would be decoded for nothing)
    query = select(c.contact_id, c.temperature, c.engagement, c.explanation).where(
        c.contact_id.in_(ids), c.score_group == "main"
    )
    return {row.contact_id: row for row in conn.execute(query)}


def _user_names(conn: Connection) -> dict[int, str]:
    return {row.id: row.name for row in conn.execute(select(users.c.id, users.c.name))}


def queue_cards(rt: Runtime, pipeline: str | None = None) -> list[QueueCard]:
    """MQLs waiting for sales (oldest first) with temperature and the top score reasons."""
    items = sales_queue(rt, pipeline)
    with rt.db.read() as conn:
        found = _main_scores(conn, [i.contact_id for i in items])
        names = _user_names(conn)
    cards = []
    for item in items:
        row = found.get(item.contact_id)
        cards.append(
            QueueCard(
                item=item,
                temperature=row.temperature if row is not None else None,
                engagement=row.engagement if row is not None else None,
                reasons=top_reasons(row.explanation if row is not None else None),
                owner=names.get(item.owner_id) if item.owner_id is not None else None,
            )
        )
    return cards


@dataclass(frozen=True)
class BoardCard:
    deal_id: int
    name: str
    amount: Decimal
    currency: str
    probability: float
    contact_id: int | None
    contact: str | None
    owner: str | None
    expected_close: Any

    @property
    def weighted(self) -> Decimal:
        return self.amount * Decimal(str(self.probability))


@dataclass
class BoardColumn:
    """One deal stage: every open deal counts in ``count``/``total``/``weighted``; ``cards`` shows the oldest."""

    stage: str
    probability: float
    cards: list[BoardCard] = field(default_factory=list)
    count: int = 0
    total: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)


@dataclass(frozen=True)
class PipelineBoard:
    pipeline: str
    columns: list[BoardColumn]

    @property
    def total(self) -> Decimal:
        return sum((c.total for c in self.columns), Decimal(0))

    @property
    def weighted(self) -> Decimal:
        return sum((c.weighted for c in self.columns), Decimal(0))

    @property
    def count(self) -> int:
        return sum(c.count for c in self.columns)


def _card(row: Any, names: dict[int, str]) -> BoardCard:
    owner = names.get(row.owner_id) if row.owner_id is not None else None
    return BoardCard(
        row.id,
        row.name,
        Decimal(row.amount),
        row.currency,
        row.probability,
        row.contact_id,
        row.email,
        owner,
        row.expected_close,
    )


def _add(column: BoardColumn, card: BoardCard, limit: int) -> None:
    column.count += 1
    column.total += card.amount
    column.weighted += card.weighted
    if len(column.cards) < limit:
        column.cards.append(card)


def pipeline_board(rt: Runtime, pipeline: str | None = None, *, limit_per_stage: int = 100) -> PipelineBoard:
    """Open deals by deal stage (kanban), with amounts and probability-weighted totals."""
    name = pipeline or rt.playbook.main_name
    stages = rt.playbook.pipelines[name].deal_stages
    columns = {s.id: BoardColumn(s.id, s.probability) for s in stages}
    d, c = deals.c, contacts.c
    query = (
        select(
            d.id,
            d.name,
            d.amount,
            d.currency,
            d.probability,
            d.contact_id,
            d.owner_id,
            d.stage,
            d.expected_close,
            c.email,
        )
        .select_from(deals.outerjoin(contacts, c.id == d.contact_id))
        .where(d.status == "open", d.pipeline == name)
        .order_by(d.opened_at, d.id)
    )
    with rt.db.read() as conn:
        names = _user_names(conn)
        for row in conn.execute(query):
            column = columns.get(row.stage)
            if column is not None:
                _add(column, _card(row, names), limit_per_stage)
    return PipelineBoard(name, list(columns.values()))
