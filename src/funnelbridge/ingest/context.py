"""What an import's writers share: the runtime, the time of the run, the summary and the dead-letter file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection

from funnelbridge.ingest.attribution import Bounds
from funnelbridge.ingest.columns import StageValues
from funnelbridge.ingest.deadletter import DeadLetterWriter, Problem, Rejection
from funnelbridge.ingest.idcache import IdCache
from funnelbridge.ingest.ownfold import OwnFold
from funnelbridge.ingest.summary import ImportSummary
from funnelbridge.runtime import Runtime

__all__ = ["ImportContext", "Item", "Writer"]


@dataclass(frozen=True, slots=True)
class Item:
    """One converted input row: its number, the typed record and the raw values (for the dead-letter file)."""

    row: int
    record: dict[str, Any]
    raw: Sequence[Any]


@dataclass
class ImportContext:
    rt: Runtime
    now: datetime
    zone: tzinfo
    summary: ImportSummary
    dead: DeadLetterWriter
    after: bool = True  # writers report touched contacts only when they will be re-scored
    bounds: Bounds = field(default_factory=Bounds)  # attribution already settled by earlier chunks
    identified: dict[int, datetime] = field(default_factory=dict)  # identified_at at most this, by earlier chunks
    stages: StageValues | None = None  # the mapping file's stage values (contacts)
    fold: OwnFold = field(default_factory=OwnFold, repr=False, compare=False)  # the plain chunks' owed attribution
    ids: IdCache = field(default_factory=IdCache, repr=False, compare=False)  # the plain chunks' contact look-ups

    def __post_init__(self) -> None:
        if self.stages is not None:  # checked against the playbook before any row is read
            from funnelbridge.ingest.history import stage_map

            stage_map(self.rt.playbook, self.stages)

    def reject(self, row: int, raw: Sequence[Any], problems: Sequence[Problem]) -> None:
        rejection = Rejection(row, tuple(problems), raw)
        self.summary.reject(rejection)
        self.dead.write(rejection)

    def refuse(self, item: Item, field: str, reason: str) -> None:
        """Reject a converted row for a reason found while writing it (a missing key, an unknown stage ...)."""
        self.reject(item.row, item.raw, [Problem(field, reason)])


Writer = Callable[[ImportContext, Connection, list[Item]], set[int]]
"""Writes one chunk of rows in the caller's transaction; returns the ids of contacts whose activity changed."""
