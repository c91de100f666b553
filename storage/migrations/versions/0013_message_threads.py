"""Private parent–teacher messages relayed by the bot (issue 17): threads, their messages,
teachers' office hours

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_thread",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("student_id", sa.String(length=64), nullable=False),
        sa.Column("class_id", sa.String(length=64), nullable=False),
        sa.Column("teacher_id", sa.String(length=64), nullable=False),
        sa.Column("guardian_id", sa.String(length=64), nullable=False),
        sa.Column("parent_channel", sa.String(length=20), nullable=False),
        sa.Column("parent_chat_id", sa.String(length=128), nullable=False),
        sa.Column("parent_user_id", sa.String(length=128), nullable=False),
        sa.Column("muted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parent_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_thread")),
        sa.UniqueConstraint(
            "school_id",
            "student_id",
            "teacher_id",
            "parent_channel",
            "parent_user_id",
            name=op.f("uq_message_thread_school_id"),
        ),
    )
    op.create_index(
        "ix_message_thread_parent",
        "message_thread",
        ["school_id", "parent_channel", "parent_user_id"],
    )
    op.create_index("ix_message_thread_class", "message_thread", ["school_id", "class_id"])
    op.create_table(
        "thread_message",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=10), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attachment", sa.String(length=20), nullable=False),
        sa.Column("deliver_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["message_thread.id"],
            name=op.f("fk_thread_message_thread_id_message_thread"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_thread_message")),
    )
    op.create_index("ix_thread_message_thread", "thread_message", ["thread_id", "created_at"])
    op.create_index("ix_thread_message_school", "thread_message", ["school_id", "created_at"])
    op.create_table(
        "teacher_office_hours",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("teacher_id", sa.String(length=64), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "teacher_id", name=op.f("pk_teacher_office_hours")),
    )


def downgrade() -> None:
    op.drop_table("teacher_office_hours")
    op.drop_index("ix_thread_message_school", table_name="thread_message")
    op.drop_index("ix_thread_message_thread", table_name="thread_message")
    op.drop_table("thread_message")
    op.drop_index("ix_message_thread_class", table_name="message_thread")
    op.drop_index("ix_message_thread_parent", table_name="message_thread")
    op.drop_table("message_thread")
