"""Event intake from a JSON-lines file (one payload per line), with a dead-letter file of rejected lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from funnelbridge.errors import InputError
from funnelbridge.ingest.deadletter import DeadLetterWriter, Rejection
from funnelbridge.ingest.intake import DEFAULT_BATCH, ingest_events
from funnelbridge.ingest.summary import IngestSummary, Progress
from funnelbridge.runtime import Runtime

__all__ = ["Unreadable", "count_lines", "ingest_jsonl", "read_jsonl"]


@dataclass(frozen=True)
class Unreadable:
    """A line that is not a JSON value (rejected by payload validation with this reason)."""

    reason: str
    text: str


def read_jsonl(path: Path) -> Iterator[Any]:
    """One value per line; a line that does not parse (or is blank) yields :class:`Unreadable`."""
    with path.open("r", encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            text = line.strip()
            if not text:
                yield Unreadable("empty line", text)
                continue
            try:
                yield json.loads(text)
            except (ValueError, RecursionError) as exc:
                yield Unreadable(f"not valid JSON: {exc}", text[:2000])


def count_lines(path: Path) -> int:
    """Lines in a file (a fast estimate of rows for progress bars)."""
    count = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
    return count


def ingest_jsonl(
    rt: Runtime,
    path: str | Path,
    progress: Progress | None = None,
    *,
    rejects: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH,
    after: bool = True,
) -> IngestSummary:
    """Ingest a JSON-lines file of event payloads; rejected lines (line number = payload number) go to
    ``rejects`` (default ``<file>.rejected.csv``, written only when a line is rejected)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", record=str(path))
    dead_path = Path(rejects) if rejects is not None else path.with_name(path.name + ".rejected.csv")
    with DeadLetterWriter(dead_path, ["payload"]) as dead:

        def write(rejection: Rejection) -> None:
            raw = rejection.raw[0] if rejection.raw else None
            text = raw.text if isinstance(raw, Unreadable) else json.dumps(raw, default=str, ensure_ascii=False)
            dead.write(Rejection(rejection.row, rejection.problems, (text,)))

        summary = ingest_events(rt, read_jsonl(path), progress, batch_size=batch_size, after=after, on_reject=write)
    summary.rejects_path = dead_path if summary.rejected else None
    return summary
