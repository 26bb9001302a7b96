"""The worker's share of SQLite's write lock while it scores queued activity beside other writers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from funnelbridge.activity import pending
from funnelbridge.automation import install
from funnelbridge.automation.delivery import RecordingDeliverer
from funnelbridge.automation.worker import WorkerConfig, run_worker, scoring_pause
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.ingest import ingest_events
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("seconds", "share", "expected"), [(0.2, 0.5, 0.2), (0.3, 0.75, 0.1), (0.2, 1.0, 0.0)])
def test_the_pause_gives_the_rest_of_the_time_to_other_writers(seconds: float, share: float, expected: float) -> None:
    assert scoring_pause(seconds, share, sqlite=True) == pytest.approx(expected)


def test_no_pause_where_writers_do_not_wait_for_each_other() -> None:
    assert scoring_pause(0.2, 0.5, sqlite=False) == 0.0


def test_a_running_worker_with_a_share_still_scores_everything_queued(db: Database) -> None:
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW))
    install(rt)
    payloads = [
        {"type": "identify", "email": f"p{i}@acme{i}.com", "traits": {"title": "VP"}, "timestamp": NOW.isoformat()}
        for i in range(12)
    ]
    ingest_events(rt, payloads, defer=True)
    stop = threading.Event()
    channels = {kind: RecordingDeliverer() for kind in ("email", "webhook", "move", "invalid")}
    config = WorkerConfig(batch=5, share=0.5, poll=0.01, concurrency=1)

    def progress(summary: object) -> None:
        with db.read() as conn:
            if pending(conn) == 0:
                stop.set()

    summary = run_worker(rt, config=config, deliverers=channels, stop=stop, progress=progress)
    assert summary.activity_scored == 12
