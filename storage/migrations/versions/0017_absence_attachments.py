"""A leave request carries its medical certificate (issue 17): the platform's references
of up to three photos or documents, as JSON; the files themselves stay on the platform

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("absence_request") as batch:
        batch.add_column(sa.Column("attachments", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("absence_request") as batch:
        batch.drop_column("attachments")
