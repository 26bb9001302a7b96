"""timers: index of the pending timers' keys for cancelling by key prefix (``ix_timers_pending_key``)

Leaving a stage cancels its SLA timers and unenrolling a nurture track its step timers, by key prefix. On
PostgreSQL ``key LIKE 'prefix%'`` cannot use the unique index on ``key`` unless the database's collation is "C"
(C.UTF-8 included: not for the planner), so each cancellation scanned every pending timer — the cost grew with the
store. This index is in byte order (``text_pattern_ops``), which the prefix's bounds (``~>=~`` / ``~<~``) use;
partial (pending timers only), so it stays small. SQLite finds the keys through the unique index on ``key``
already (its collation is binary); there the index is the same partial one.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 15:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PENDING = "fired_at IS NULL AND cancelled_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_timers_pending_key",
        "timers",
        ["key"],
        postgresql_ops={"key": "text_pattern_ops"},
        postgresql_where=sa.text(_PENDING),
        sqlite_where=sa.text(_PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_timers_pending_key", table_name="timers")
