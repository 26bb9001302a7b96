"""Serving: start-up objects frozen out of garbage collection, and a real server (uvicorn in a subprocess) that
stores every event it answered 202 for, even when stopped while requests are in flight."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from funnelbridge.api.server import freeze_startup_objects
from funnelbridge.apikeys import create_api_key
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade
from funnelbridge.store.tables import events

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SERVER = """
import sys
from funnelbridge.api import create_app
from funnelbridge.api.server import serve
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store import connect

rt = Runtime(db=connect(sys.argv[1]), playbook=load_example("b2b"))
settings = Settings(ingest_rate=1e9, ingest_burst=10**9, drain_interval=0, secret_key="test")
serve(create_app(rt, settings), "127.0.0.1", int(sys.argv[2]))
"""


def test_freeze_startup_objects_exempts_what_exists_from_collection() -> None:
    gc.unfreeze()
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(base: str, key: str, n: int) -> str | None:
    """POST one event; its idempotency key when answered 202, None when refused or cut off."""
    event = {"type": "track", "event": "e", "anonymous_id": f"v{n % 7}", "timestamp": "2026-03-01T09:00:00Z"}
    event["idempotency_key"] = f"k{n}"
    try:
        response = httpx.post(f"{base}/api/v1/events", json=event, headers={"Authorization": f"Bearer {key}"})
    except httpx.HTTPError:
        return None
    return event["idempotency_key"] if response.status_code == 202 else None


def _wait_until_up(base: str) -> None:
    for _ in range(300):
        try:
            httpx.get(f"{base}/health", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


def test_a_server_stopped_under_load_has_stored_every_event_it_accepted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    db = connect(url)
    upgrade(db)
    key = create_api_key(db, "load", "ingest", NOW)[0]
    port = _port()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port)], env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base)
        with ThreadPoolExecutor(8) as pool:
            answers = [pool.submit(_post, base, key, n) for n in range(400)]
            while sum(a.done() for a in answers) < 50:
                time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
            accepted = {a.result() for a in answers} - {None}
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with db.read() as conn:
        stored = set(conn.execute(select(events.c.idempotency_key)).scalars())
    db.dispose()
    assert len(accepted) >= 50
    assert accepted <= stored
    assert stored <= {f"k{n}" for n in range(400)}
