"""After a big import: score and advance the contacts it queued (:func:`funnelbridge.activity.enqueue`), in
batches, reporting progress — the second half of ``import_file(..., defer=True)``."""

from __future__ import annotations

from funnelbridge.activity import DrainResult, drain, pending
from funnelbridge.ingest.summary import Progress
from funnelbridge.runtime import Runtime

__all__ = ["DRAIN_BATCH", "queued", "score_queued"]

DRAIN_BATCH = 500


def queued(rt: Runtime) -> int:
    """How many contacts wait in the activity queue."""
    with rt.db.read() as conn:
        return pending(conn)


def score_queued(rt: Runtime, progress: Progress | None = None, *, batch: int = DRAIN_BATCH) -> DrainResult:
    """Drain the activity queue ``batch`` contacts per transaction; ``progress`` is told each batch's size."""
    contacts = moves = 0
    failed: list[tuple[int, str]] = []
    while True:
        result = drain(rt, batch=batch, max_batches=1)
        if not result.contacts:
            return DrainResult(contacts, moves, tuple(failed))
        contacts, moves = contacts + result.contacts, moves + result.transitions
        failed.extend(result.failed)
        if progress:
            progress(result.contacts)
