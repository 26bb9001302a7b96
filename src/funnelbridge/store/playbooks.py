"""Repository: the playbook versions the store has seen, and which is active. Never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from funnelbridge.playbook.schema import Playbook
from funnelbridge.store.tables import playbooks

__all__ = ["active_version", "record_playbook"]


def record_playbook(conn: Connection, pb: Playbook, source: str, at: datetime, *, activate: bool) -> bool:
    """Store this playbook version (once); optionally make it the active one. Returns True when newly stored."""
    known = conn.execute(select(playbooks.c.version).where(playbooks.c.version == pb.version)).first()
    if known is None:
        conn.execute(
            playbooks.insert().values(version=pb.version, name=pb.name, source=source, loaded_at=at, active=False)
        )
    if activate:
        conn.execute(update(playbooks).where(playbooks.c.active.is_(True)).values(active=False))
        conn.execute(update(playbooks).where(playbooks.c.version == pb.version).values(active=True, activated_at=at))
    return known is None


def active_version(conn: Connection) -> str | None:
    return conn.execute(select(playbooks.c.version).where(playbooks.c.active.is_(True))).scalar_one_or_none()
