"""The demo's SQLite connections checkpoint the write-ahead log every 32,768 pages, not after every commit."""

from __future__ import annotations

from pathlib import Path

from funnelbridge.demo.runner import _fewer_checkpoints
from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import connect
from funnelbridge.store.migrate import upgrade


def test_connections_opened_after_it_checkpoint_less_often(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'demo.db'}")
    upgrade(db)
    rt = Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(), bus=EventBus())
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        _fewer_checkpoints(rt)
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 32768
    finally:
        db.dispose()
