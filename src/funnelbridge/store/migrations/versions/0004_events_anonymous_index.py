"""events: drop ix_events_anonymous_time (anonymous_id, occurred_at), which no query uses

Every stored event paid a random b-tree insert into it (cookies arrive in no order); once the index outgrew the
page cache that was a page read and a page written per event — a large share of what event intake wrote at a
million people. Events are found by contact (``ix_events_contact_time``), a cookie's contact through
``identities``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 15:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # if_exists: a bulk events load killed while the secondary indexes were dropped may have left it missing
    op.drop_index("ix_events_anonymous_time", table_name="events", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_events_anonymous_time", "events", ["anonymous_id", "occurred_at"], if_not_exists=True)
