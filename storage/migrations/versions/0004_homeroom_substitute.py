"""homeroom substitutes; the platform language of each conversation

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "homeroom_substitute",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("class_id", sa.String(length=64), nullable=False),
        sa.Column("teacher_id", sa.String(length=64), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_homeroom_substitute")),
    )
    with op.batch_alter_table("homeroom_substitute", schema=None) as batch_op:
        batch_op.create_index(
            "ix_homeroom_substitute_school", ["school_id", "class_id", "start_date"], unique=False
        )

    with op.batch_alter_table("conversation_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform_locale", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation_state", schema=None) as batch_op:
        batch_op.drop_column("platform_locale")
    with op.batch_alter_table("homeroom_substitute", schema=None) as batch_op:
        batch_op.drop_index("ix_homeroom_substitute_school")
    op.drop_table("homeroom_substitute")
