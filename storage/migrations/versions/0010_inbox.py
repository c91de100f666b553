"""The webhook inbox: events stored before the 200, run one chat at a time across processes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hook", sa.String(length=80), nullable=False),
        sa.Column("lane", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_event")),
        sa.UniqueConstraint("hook", "event_id", name=op.f("uq_inbox_event_hook")),
    )
    op.create_index("ix_inbox_event_lane", "inbox_event", ["hook", "lane", "id"])
    op.create_table(
        "inbox_lease",
        sa.Column("hook", sa.String(length=80), nullable=False),
        sa.Column("lane", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hook", "lane", name=op.f("pk_inbox_lease")),
    )


def downgrade() -> None:
    op.drop_table("inbox_lease")
    op.drop_index("ix_inbox_event_lane", table_name="inbox_event")
    op.drop_table("inbox_event")
