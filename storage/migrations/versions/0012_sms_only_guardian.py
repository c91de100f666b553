"""A guardian marked "SMS only" in the school's import gets the SMS digest; images served to
Zalo by URL (issue 16)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("guardian") as batch:
        batch.add_column(
            sa.Column("sms_only", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "media_file",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_media_file")),
    )
    op.create_index("ix_media_file_expires", "media_file", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_media_file_expires", table_name="media_file")
    op.drop_table("media_file")
    with op.batch_alter_table("guardian") as batch:
        batch.drop_column("sms_only")
