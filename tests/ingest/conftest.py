"""Fixtures of the ingest suite: a runtime (default B2B playbook, frozen clock) on each store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from funnelbridge.domain.clock import FrozenClock
from funnelbridge.domain.events import EventBus
from funnelbridge.playbook import load_example
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def rt(db: Database) -> Runtime:
    return Runtime(db=db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus(published=[]))


@pytest.fixture
def sqlite_rt(sqlite_db: Database) -> Runtime:
    return Runtime(db=sqlite_db, playbook=load_example("b2b"), clock=FrozenClock(NOW), bus=EventBus(published=[]))
