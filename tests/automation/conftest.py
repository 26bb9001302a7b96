"""Fixtures of the automation tests: a Runtime with automation installed over the `db` store, a small world
builder (users, contacts, stage entries), and real receivers — an HTTP server and an SMTP server on 127.0.0.1 that
record every delivery and count it by idempotency key."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from automation_helpers import T0, SmtpReceiver, WebhookReceiver, World, _handler, _SmtpHandler, b2b, free_port

from funnelbridge.automation import install
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database, connect
from funnelbridge.store.migrate import upgrade


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite store, made once; each test gets a copy (migrating per test costs ~0.5 s)."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    template = connect(f"sqlite:///{path}")
    upgrade(template)
    template.dispose()
    return path


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    shutil.copyfile(sqlite_template, tmp_path / "store.db")
    store = connect(f"sqlite:///{tmp_path}/store.db")
    yield store
    store.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def rt(db: Database, clock: FrozenClock) -> Runtime:
    runtime = Runtime(db=db, playbook=b2b(), clock=clock)
    install(runtime)
    return runtime


@pytest.fixture
def world(rt: Runtime, clock: FrozenClock) -> World:
    return World(rt, clock)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(port=free_port())
    controller = Controller(_SmtpHandler(receiver), hostname="127.0.0.1", port=receiver.port)
    controller.start()
    yield receiver
    controller.stop()
