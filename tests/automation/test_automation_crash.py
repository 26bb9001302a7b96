"""Reliability with real worker processes: SIGKILL mid-batch then restart delivers every action (exactly once to a
receiver that deduplicates by Idempotency-Key); two workers on PostgreSQL never deliver the same action twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from automation_helpers import WebhookReceiver

from funnelbridge.automation import enqueue, list_outbox
from funnelbridge.bootstrap import init_project
from funnelbridge.domain.clock import utcnow
from funnelbridge.settings import Settings
from funnelbridge.store import Database, connect

CLI = str(Path(sys.executable).parent / "funnelbridge")
PG_URL = os.environ.get("FUNNELBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _fill(db: Database, n: int, url: str) -> list[str]:
    keys = [f"crash-{i:04d}" for i in range(n)]
    with db.transaction() as conn:
        for key in keys:
            enqueue(conn, key=key, kind="webhook", payload={"url": url, "lead": {"id": 1}}, at=utcnow())
    return keys


def _worker(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([CLI, "worker", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _env(tmp_path: Path, url: str, hook: WebhookReceiver) -> dict[str, str]:
    return {
        **os.environ,
        "FUNNELBRIDGE_DATABASE_URL": url,
        "FUNNELBRIDGE_PLAYBOOK": str(tmp_path / "playbook.yaml"),
        "FUNNELBRIDGE_WEBHOOK_URL": hook.url,
        "FUNNELBRIDGE_CONFIG": str(tmp_path / "none.toml"),
        "COLUMNS": "200",
    }


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_a_killed_worker_loses_nothing_and_a_deduplicating_receiver_sees_each_action_once(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    init_project(Settings(database_url=url, playbook=str(tmp_path / "playbook.yaml")))
    db = connect(url)
    keys = _fill(db, 300, webhook_receiver.url)
    webhook_receiver.delay = 0.003
    env = _env(tmp_path, url, webhook_receiver)
    first = _worker(env, "--batch", "50", "--lease", "1")
    _wait_for(lambda: len(webhook_receiver.requests) >= 75, timeout=60)  # in the middle of the second batch
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert len(webhook_receiver.keys) < len(keys)
    time.sleep(1.1)  # the dead worker's lease runs out
    webhook_receiver.delay = 0.0
    second = _worker(env, "--once", "--batch", "50", "--lease", "30")
    out = second.communicate(timeout=60)[0].decode()
    assert second.returncode == 0, out
    received = webhook_receiver.keys
    assert set(received) == set(keys)  # every action arrived: after dedup by key, exactly once each
    repeats = sum(n - 1 for n in received.values())
    assert repeats <= 50  # at most the batch in flight at the kill was sent again
    listing = list_outbox(db, limit=1000)
    assert listing.counts == {"pending": 0, "done": 300, "dead": 0}
    db.dispose()


@pytest.mark.postgres
def test_two_workers_on_postgresql_never_deliver_an_action_twice(
    tmp_path: Path, pg_schema: str, webhook_receiver: WebhookReceiver
) -> None:
    url = f"{PG_URL}?options=-csearch_path%3D{pg_schema}"
    init_project(Settings(database_url=url, playbook=str(tmp_path / "playbook.yaml")))
    db = connect(url)
    keys = _fill(db, 400, webhook_receiver.url)
    webhook_receiver.delay = 0.003
    env = _env(tmp_path, url, webhook_receiver)
    workers = [_worker(env, "--once", "--batch", "20", "--lease", "60") for _ in range(2)]
    outputs = [w.communicate(timeout=90)[0].decode() for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    received = webhook_receiver.keys
    assert set(received) == set(keys)
    assert max(received.values()) == 1  # SKIP LOCKED: disjoint claims, no repeats at all
    delivered = [int(o.split("delivered ")[-1].split(",")[0].strip("[]bold/ ")) for o in outputs]
    assert sum(delivered) == 400
    assert list_outbox(db).counts["done"] == 400
    db.dispose()
