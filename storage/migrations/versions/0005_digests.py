"""digests: notification preferences, change watermarks, notices, notification items

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_pref",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("minute_of_day", sa.Integer(), nullable=False),
        sa.Column("content", sa.String(length=100), nullable=False),
        sa.Column("instant", sa.Boolean(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "school_id", "channel", "user_id", name=op.f("pk_notification_pref")
        ),
    )
    op.create_table(
        "change_watermark",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("school_id", name=op.f("pk_change_watermark")),
    )
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("class_id", sa.String(length=64), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice")),
    )
    op.create_table(
        "notification_item",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("student_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("change_key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest_key", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_item")),
        sa.UniqueConstraint(
            "school_id",
            "channel",
            "user_id",
            "change_key",
            name=op.f("uq_notification_item_school_id"),
        ),
    )
    with op.batch_alter_table("notification_item", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_item_pending", ["channel", "user_id", "digest_key"], unique=False
        )
    op.create_table(
        "digest_run",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_digest_run")),
    )
    with op.batch_alter_table("fee_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_fee_item_updated", ["school_id", "updated_at"], unique=False)
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.create_index("ix_attendance_recorded", ["school_id", "recorded_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.drop_index("ix_attendance_recorded")
    with op.batch_alter_table("fee_item", schema=None) as batch_op:
        batch_op.drop_index("ix_fee_item_updated")
        batch_op.drop_column("updated_at")
    with op.batch_alter_table("notification_item", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_item_pending")
    op.drop_table("digest_run")
    op.drop_table("notification_item")
    op.drop_table("notice")
    op.drop_table("change_watermark")
    op.drop_table("notification_pref")
