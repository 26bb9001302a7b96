"""Alembic environment: runs on the connection handed in by funnelbridge.store.migrate."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

from funnelbridge.store.tables import metadata
from funnelbridge.store.types import UTCDateTime


def render_item(kind: str, obj: Any, _autogen: Any) -> str | Literal[False]:
    """Migrations use plain SQLAlchemy types: UTCDateTime is a DateTime(timezone=True) in the database."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
