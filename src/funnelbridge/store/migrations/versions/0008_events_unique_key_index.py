"""events: the idempotency key's UNIQUE constraint becomes a unique index of the same name

A constraint declared in SQLite's CREATE TABLE is an automatic index that cannot be dropped; a named unique index
can. A first bulk events load into an empty table (:mod:`funnelbridge.store.bulkload`) drops it and builds it once
after the load — a sort instead of a random b-tree insert per event. ``ON CONFLICT (idempotency_key)`` works the
same with either. SQLite: the table is copied (batch mode); PostgreSQL: the constraint is dropped and the index
created.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 23:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_NAME = "uq_events_idempotency_key"


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint(_NAME, type_="unique")
    # if_not_exists: nothing can have made it, but a store repaired by hand may already have it
    op.create_index(_NAME, "events", ["idempotency_key"], unique=True, if_not_exists=True)


def downgrade() -> None:
    op.drop_index(_NAME, table_name="events", if_exists=True)  # a killed first bulk load may have left it missing
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_unique_constraint(_NAME, ["idempotency_key"])
