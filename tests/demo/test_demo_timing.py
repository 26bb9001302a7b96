"""The demo's per-part timing: CPU, wall, run-queue wait and what is left (blocked) add up per part."""

from __future__ import annotations

import time

from funnelbridge.demo.timing import PartTimes, runqueue_seconds


def test_a_sleep_counts_as_blocked_and_busy_work_as_cpu() -> None:
    times = PartTimes()
    assert times.timed("sleep", lambda: time.sleep(0.2) or 7) == 7
    times.timed("busy", lambda: sum(range(2_000_000)))
    times.timed("sleep", lambda: time.sleep(0.1))
    assert times.wall["sleep"] >= 0.3 and times.cpu["sleep"] < 0.1
    assert times.cpu["busy"] > 0
    summary = times.summary()
    assert set(summary) == {"wall", "runqueue", "blocked", "written_mb"}
    if runqueue_seconds() is not None:  # Linux: the sleep is neither CPU nor waiting for one
        assert summary["blocked"]["sleep"] >= 0.25
        assert summary["blocked"]["busy"] <= summary["wall"]["busy"]
