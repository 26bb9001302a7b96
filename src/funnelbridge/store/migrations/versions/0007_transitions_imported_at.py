"""transitions.imported_at: when an imported move was written (its ``at`` is the source system's date)

A lifecycle history import (:mod:`funnelbridge.ingest.history`) stamps its transitions at the CRM's stage dates and
gives the pipeline state the import's time as last activity, so stall rules count from the import. The trail did
not hold that time, so rebuilding the states from the trail (:func:`funnelbridge.lifecycle.rebuild_projection`)
stamped them with the rebuild's time instead. Live moves leave it NULL, as do moves imported before this revision
(a rebuild still gives those the rebuild's time).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "transitions",
        sa.Column(
            "imported_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="imported moves: when the import wrote them (at is the source's date)",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("transitions", schema=None) as batch_op:  # SQLite: the table is copied without it
        batch_op.drop_column("imported_at")
