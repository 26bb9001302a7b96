"""Named results of imports and event intake."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from funnelbridge.ingest.deadletter import Rejection

__all__ = ["MAX_KEPT_REJECTIONS", "ImportSummary", "IngestSummary", "Progress"]

Progress = Callable[[int], None]
"""A progress callback: called with the number of rows/payloads just processed (an advance, not a total)."""

MAX_KEPT_REJECTIONS = 1000
"""Rejections kept in memory on a summary (all of them go to the dead-letter file)."""


@dataclass
class ImportSummary:
    """What an import did. ``read`` = inserted + updated + unchanged + duplicates + rejected; ``merged`` counts
    stored contacts merged into another along the way (their rows also count as updated or unchanged).
    Contacts: ``histories_written`` contacts got their lifecycle history from the file, ``histories_skipped``
    had a history in the file but one in the store already (left as it was: a re-run, or live history)."""

    kind: str
    path: Path
    source_format: str = "generic"
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    duplicates: int = 0
    rejected: int = 0
    accounts_created: int = 0
    contacts_created: int = 0
    histories_written: int = 0
    histories_skipped: int = 0
    rejects_path: Path | None = None
    mapping: list[tuple[str, str]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def reject(self, rejection: Rejection) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_KEPT_REJECTIONS:
            self.rejections.append(rejection)


@dataclass
class IngestSummary:
    """What event intake did. ``received`` = accepted + duplicates + rejected."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    contacts_created: int = 0
    identified: int = 0
    merged: int = 0
    contacts_touched: int = 0
    rejects_path: Path | None = None
    rejections: list[Rejection] = field(default_factory=list)

    def reject(self, rejection: Rejection) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_KEPT_REJECTIONS:
            self.rejections.append(rejection)
