"""A write that needs the unique key index while a first bulk load has it dropped: a clear, retryable
StoreBusyError from a second connection (another Database on the same file) during a real deferred load."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.errors import StoreBusyError, StoreError
from funnelbridge.ingest import import_file
from funnelbridge.ingest.intake import ingest_events
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect
from funnelbridge.store.bulkload import bulk_lock, defer_unique, drop_indexes, missing_indexes
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import events

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
EVENT = {"type": "page", "anonymous_id": "v1", "timestamp": "2026-03-01T09:00:00Z", "idempotency_key": "api-1"}


def _runtime(path: Path) -> Runtime:
    db = connect(f"sqlite:///{path}")
    upgrade(db)
    return Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW))


def _events(path: Path, n: int) -> Path:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["type", "anonymous_id", "timestamp", "idempotency_key"])
        out.writerows(["page_view", f"v{i % 17}", f"2026-02-01T00:{i % 60:02d}:00Z", f"k{i}"] for i in range(n))
    return path


def test_intake_during_a_deferred_first_load_is_a_retryable_busy_error(tmp_path: Path) -> None:
    loader, api = _runtime(tmp_path / "store.db"), _runtime(tmp_path / "store.db")
    refused: list[BaseException] = []

    def during(_rows: int) -> None:  # after each of the load's chunks: the unique index is dropped meanwhile
        try:
            ingest_events(api, [EVENT], defer=True)
        except StoreError as exc:
            refused.append(exc)

    try:
        import_file(loader, "events", _events(tmp_path / "e.csv", 900), chunk_size=300, defer=True, bulk=True,
                    progress=during)  # fmt: skip
        assert len(refused) == 3
        for exc in refused:
            assert isinstance(exc, StoreBusyError) and exc.retry_after > 0
            assert "bulk load is building the unique key index" in str(exc)
        summary = ingest_events(api, [EVENT], defer=True)  # the load is over: the retry succeeds
        assert (summary.accepted, summary.duplicates) == (1, 0)
    finally:
        loader.db.dispose()
        api.db.dispose()


def test_other_operational_errors_stay_plain_store_errors(tmp_path: Path) -> None:
    rt = _runtime(tmp_path / "store.db")
    try:
        with pytest.raises(StoreError) as caught, rt.db.transaction() as conn:
            conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")
        assert not isinstance(caught.value, StoreBusyError)
    finally:
        rt.db.dispose()


def _killed_first_load(rt: Runtime) -> None:
    """What a first bulk load killed after its first chunk leaves: every events index dropped, committed."""
    with rt.db.transaction() as conn:
        assert defer_unique(conn, events)
        drop_indexes(conn, events)


def test_a_write_after_a_killed_load_builds_the_index_then_the_retry_succeeds(tmp_path: Path) -> None:
    """No reopening needed: the first write refused for want of the index finds no load running, builds what the
    killed load dropped and says so (a retryable error of a second); the retry is stored."""
    api = _runtime(tmp_path / "store.db")
    try:
        _killed_first_load(api)
        with pytest.raises(StoreBusyError) as refused:
            ingest_events(api, [EVENT], defer=True)
        assert refused.value.retry_after == 1
        assert "killed earlier" in str(refused.value) and "built again now" in str(refused.value)
        with api.db.read() as conn:
            assert missing_indexes(conn, events) == []
        summary = ingest_events(api, [EVENT], defer=True)
        assert (summary.accepted, summary.duplicates) == (1, 0)
    finally:
        api.db.dispose()


def test_a_write_while_a_load_runs_elsewhere_leaves_its_indexes_alone(tmp_path: Path) -> None:
    api = _runtime(tmp_path / "store.db")
    try:
        _killed_first_load(api)
        with bulk_lock(api.db.engine):  # the load is alive (another descriptor: as another process)
            with pytest.raises(StoreBusyError) as refused:
                ingest_events(api, [EVENT], defer=True)
            assert "bulk load is building the unique key index" in str(refused.value)
            with api.db.read() as conn:
                assert len(missing_indexes(conn, events)) == 3
    finally:
        api.db.dispose()
