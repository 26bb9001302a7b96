"""An events import runs with cyclic collection paused; chunks that merge contacts must not leave their cyclic
garbage for the whole run (about 20 objects a merge: it grew with the file)."""

from __future__ import annotations

import csv
import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from funnelbridge.ingest import import_file
from funnelbridge.runtime import Runtime

PEOPLE = 150
T0 = datetime(2026, 2, 1, tzinfo=UTC)


def _write(path: Path, tag: str, start: datetime) -> Path:
    """Each person browses anonymously, then a form names them by email (with the visitor id): in a second file
    under new visitor ids, each identification merges that visitor into the known contact."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["event_id", "type", "anonymous_id", "email", "timestamp", "utm_source"])
        for p in range(PEOPLE):
            at = start + timedelta(seconds=p * 7)
            out.writerow([f"{tag}{p}a", "page_view", f"{tag}anon{p}", "", at.isoformat(), "ads"])
            out.writerow([f"{tag}{p}b", "form_submit", f"{tag}anon{p}", f"p{p}@x{p % 13}.example",
                          (at + timedelta(seconds=2)).isoformat(), ""])  # fmt: skip
    return path


def test_merging_chunks_leave_no_cyclic_garbage_behind(sqlite_rt: Runtime, tmp_path: Path) -> None:
    import_file(sqlite_rt, "events", _write(tmp_path / "one.csv", "e", T0), after=False, workers=1)
    second = _write(tmp_path / "two.csv", "f", T0 + timedelta(days=2))
    gc.collect()
    gc.disable()
    try:
        summary = import_file(sqlite_rt, "events", second, chunk_size=40, after=False, bulk=False, workers=1)
        left = gc.collect()
    finally:
        gc.enable()
    assert summary.merged == PEOPLE
    assert left < PEOPLE * 3  # a merge left ~20 objects before chunks that merged were collected
