"""Signed-out sessions of the office's web page (issue 18): a copied cookie dies at sign-out

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_session_ended",
        sa.Column("sid_hash", sa.String(64), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid_hash", name=op.f("pk_web_session_ended")),
    )
    op.create_index("ix_web_session_ended_expires_at", "web_session_ended", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_web_session_ended_expires_at", table_name="web_session_ended")
    op.drop_table("web_session_ended")
