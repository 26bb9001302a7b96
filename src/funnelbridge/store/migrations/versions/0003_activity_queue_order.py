"""activity_queue: index on (queued_at, contact_id), the order in which the drain claims queued contacts

Without it every claim sorted the whole queue (a million queued contacts in the demo's larger runs).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_activity_queue_queued", "activity_queue", ["queued_at", "contact_id"])


def downgrade() -> None:
    op.drop_index("ix_activity_queue_queued", table_name="activity_queue")
