"""Class polls (poll, poll_ballot), teachers' remarks and homework (teacher_post), and a
parent's choice to hear of those at once (issue 17)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poll",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("class_id", sa.String(length=64), nullable=False),
        sa.Column("class_name", sa.String(length=100), nullable=False),
        sa.Column("author_id", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("multiple", sa.Boolean(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_told_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll")),
    )
    op.create_index("ix_poll_author", "poll", ["school_id", "author_id", "created_at"])
    op.create_index("ix_poll_remind", "poll", ["reminded_at", "remind_at"])
    op.create_table(
        "poll_ballot",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("student_id", sa.String(length=64), nullable=False),
        sa.Column("student_name", sa.String(length=200), nullable=False),
        sa.Column("class_name", sa.String(length=100), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_ballot")),
        sa.UniqueConstraint("poll_id", "student_id", name=op.f("uq_poll_ballot_poll_id")),
    )
    op.create_index("ix_poll_ballot_student", "poll_ballot", ["school_id", "student_id"])
    op.create_table(
        "teacher_post",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("class_id", sa.String(length=64), nullable=False),
        sa.Column("student_id", sa.String(length=64), nullable=True),
        sa.Column("author_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teacher_post")),
    )
    op.create_index(
        "ix_teacher_post_class", "teacher_post", ["school_id", "class_id", "created_at"]
    )
    with op.batch_alter_table("notification_pref") as batch:
        batch.add_column(
            sa.Column("post_alerts", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("notification_pref") as batch:
        batch.drop_column("post_alerts")
    op.drop_index("ix_teacher_post_class", table_name="teacher_post")
    op.drop_table("teacher_post")
    op.drop_index("ix_poll_ballot_student", table_name="poll_ballot")
    op.drop_table("poll_ballot")
    op.drop_index("ix_poll_remind", table_name="poll")
    op.drop_index("ix_poll_author", table_name="poll")
    op.drop_table("poll")
