"""ingest_owed: what an events import still owes — the attribution (and follow-up queue) of its plain-lane stretch

The plain lane of the events import (:mod:`funnelbridge.ingest.bulkplain`) stores events chunk by chunk and applies
their contacts' attribution once, set-based, at the end of the stretch (:mod:`funnelbridge.ingest.owed`). A row
here says that the events from ``from_event_id`` on are not applied yet (and, with ``queued_at``, that their
contacts are to be queued for scoring): an import killed before its end leaves it, and the next events import
(or :func:`funnelbridge.ingest.owed.settle`) completes the work. Empty between imports.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 20:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_owed",
        sa.Column(
            "from_event_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
            comment="first event of the owed stretch",
        ),
        sa.Column(
            "queued_at",
            sa.DateTime(timezone=True),
            comment="queue the stretch's contacts for scoring at this time; NULL: do not",
        ),
        comment="events imports' attribution (and follow-up queue) not applied yet: funnelbridge.ingest.owed",
    )


def downgrade() -> None:
    op.drop_table("ingest_owed")
