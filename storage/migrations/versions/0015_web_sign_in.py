"""Single-use sign-in links to the office's web page (issue 18): hashed tokens only

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sign_in",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("school_id", sa.String(40), nullable=False),
        sa.Column("teacher_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_sign_in")),
    )
    op.create_index("ix_web_sign_in_expires_at", "web_sign_in", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_web_sign_in_expires_at", table_name="web_sign_in")
    op.drop_table("web_sign_in")
