"""Building a Runtime from settings (for entry points only), and `funnelbridge init`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from funnelbridge.automation.install import install
from funnelbridge.domain.clock import Clock, SystemClock
from funnelbridge.playbook.examples import example_path
from funnelbridge.playbook.loader import load_playbook
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.store.db import connect
from funnelbridge.store.migrate import require_current, upgrade
from funnelbridge.store.playbooks import record_playbook

__all__ = ["InitResult", "init_project", "open_runtime"]


@dataclass(frozen=True)
class InitResult:
    playbook_path: Path
    wrote_playbook: bool
    database_url: str
    playbook_version: str


def init_project(settings: Settings, *, example: str = "b2b", clock: Clock | None = None) -> InitResult:
    """Write the example playbook (unless one exists), migrate the store and activate the playbook."""
    path = Path(settings.playbook)
    wrote = not path.exists()
    if wrote:
        path.write_text(example_path(example).read_text(encoding="utf-8"), encoding="utf-8")
    pb = load_playbook(path)
    db = connect(settings.database_url)
    upgrade(db)
    with db.transaction() as conn:
        record_playbook(conn, pb, path.read_text(encoding="utf-8"), (clock or SystemClock()).now(), activate=True)
    db.dispose()
    return InitResult(path, wrote, settings.database_url, pb.version)


def open_runtime(settings: Settings, *, clock: Clock | None = None, migrate: bool = False) -> Runtime:
    """Connect to the store (checking its schema), load and record the playbook, and return a Runtime."""
    db = connect(settings.database_url)
    if migrate:
        upgrade(db)
    require_current(db)
    path = Path(settings.playbook)
    pb = load_playbook(path)
    clock = clock or SystemClock()
    with db.transaction() as conn:
        record_playbook(conn, pb, path.read_text(encoding="utf-8"), clock.now(), activate=True)
    rt = Runtime(db=db, playbook=pb, clock=clock)
    install(rt)  # automation reacts to domain events inside the transaction that published them
    return rt
