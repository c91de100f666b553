"""A guardian marked "SMS only" in the school's import gets the SMS digest (issue 16)

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


def downgrade() -> None:
    with op.batch_alter_table("guardian") as batch:
        batch.drop_column("sms_only")
