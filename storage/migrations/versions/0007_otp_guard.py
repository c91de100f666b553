"""OTP guard: audit events counted by subject (sends per phone, wrong codes per student)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_event_subject", "audit_event", ["school_id", "action", "subject", "at"]
    )


def downgrade() -> None:
    op.drop_index("ix_audit_event_subject", table_name="audit_event")
