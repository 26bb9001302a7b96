"""The parsing process (:mod:`funnelbridge.ingest.parser`): each chunk is staged on a thread while the next one is
parsed, and handed out in order, its staging file written and holding exactly its rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zoneinfo import ZoneInfo

from funnelbridge.ingest.arrowcsv import arrow_chunks
from funnelbridge.ingest.bulkplain import KEY
from funnelbridge.ingest.columns import detect_mapping
from funnelbridge.ingest.foresight import Foresight
from funnelbridge.ingest.parser import _ahead
from funnelbridge.ingest.pipeline import ParsedChunk, Source
from funnelbridge.ingest.staging import Stager

HEADERS = ["event_id", "type", "email", "timestamp", "path"]


def test_chunks_come_in_order_staged_while_the_next_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    lines = [f"k{i},page_view,p{i % 4}@x.example,2025-01-31T00:00:{i:02d}Z,/p{i % 3}" for i in range(23)]
    path.write_text("\n".join([",".join(HEADERS), *lines]) + "\n", encoding="utf-8")
    source = Source(path, "utf-8", detect_mapping("events", HEADERS, None), ZoneInfo("UTC"), 5)
    stage = tmp_path / "stage"
    stage.mkdir()
    pulled = [0]

    def counted(items: Iterator[ParsedChunk]) -> Iterator[ParsedChunk]:
        for item in items:
            pulled[0] += 1
            yield item

    keys = []
    with ThreadPoolExecutor(max_workers=1) as staging:
        for number, (item, staged) in enumerate(
            _ahead(counted(arrow_chunks(source)), Foresight(), Stager(stage), staging), start=1
        ):
            assert pulled[0] == min(number + 1, 5)  # the next chunk parsed first (5 chunks of 5, 5, 5, 5, 3)
            file = staged.result()
            assert file == str(stage / f"{number}.db")
            with sqlite3.connect(file) as conn:
                stored = [key for (key,) in conn.execute("SELECT idempotency_key FROM rows ORDER BY rowid")]
            assert stored == item.prepared.columns[KEY]
            assert item.prepared.plan is not None and item.prepared.plan.gids is not None  # annotated
            keys.extend(stored)
    assert keys == [f"k{i}" for i in range(23)]
