"""Platform events already handled, so a redelivery after a restart runs once

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_event",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "channel", "event_id", name=op.f("pk_seen_event")),
    )
    op.create_index("ix_seen_event_at", "seen_event", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_seen_event_at", table_name="seen_event")
    op.drop_table("seen_event")
