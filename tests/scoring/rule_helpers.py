"""Helpers for the rule-scoring tests: build playbooks and store rows without the ingest module."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import yaml
from sqlalchemy import Connection

from funnelbridge.playbook.loader import parse_playbook
from funnelbridge.playbook.schema import Playbook
from funnelbridge.store.tables import accounts, contacts, events

T0 = datetime(2025, 1, 1, tzinfo=UTC)

STAGES = {"main": {"stages": [{"id": "visitor"}, {"id": "lead"}]}}


def playbook(scoring: dict[str, Any], **extra: Any) -> Playbook:
    data = {"name": "test", "pipelines": STAGES, "scoring": scoring, **extra}
    return parse_playbook(yaml.safe_dump(data), "test.yaml")


def add_account(conn: Connection, **values: Any) -> int:
    row = {"created_at": T0, "updated_at": T0, **values}
    return int(conn.execute(accounts.insert().values(row)).inserted_primary_key[0])


def add_contact(conn: Connection, **values: Any) -> int:
    row = {"created_at": T0, "updated_at": T0, "unsubscribed": False, "bounced": False, "version": 1, **values}
    return int(conn.execute(contacts.insert().values(row)).inserted_primary_key[0])


_SEQ = [0]


def add_events(conn: Connection, contact_id: int, rows: Sequence[dict[str, Any]]) -> None:
    batch = []
    for r in rows:
        _SEQ[0] += 1
        base = {"idempotency_key": f"k{_SEQ[0]}", "contact_id": contact_id, "received_at": r["occurred_at"]}
        blanks = dict.fromkeys(("path", "campaign", "source", "medium", "properties"))
        batch.append(base | blanks | r)
    if batch:
        conn.execute(events.insert(), batch)
