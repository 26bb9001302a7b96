"""Fixtures: the lifecycle suite runs once per B2B-style shipped playbook (default b2b and the six-stage funnel)
and once per store (SQLite, PostgreSQL)."""

from __future__ import annotations

import pytest
from lifecycle_helpers import make_runtime

from funnelbridge.playbook import load_example
from funnelbridge.playbook.schema import Playbook
from funnelbridge.runtime import Runtime
from funnelbridge.store import Database


@pytest.fixture(params=["b2b", "six_stage"])
def playbook(request: pytest.FixtureRequest) -> Playbook:
    return load_example(request.param)


@pytest.fixture
def rt(db: Database, playbook: Playbook) -> Runtime:
    return make_runtime(db, playbook)
