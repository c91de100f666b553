"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_secret",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_secret")),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_event_actor", ["school_id", "actor", "action", "at"], unique=False
        )

    op.create_table(
        "button_token",
        sa.Column("token", sa.String(length=24), nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_button_token")),
    )
    with op.batch_alter_table("button_token", schema=None) as batch_op:
        batch_op.create_index("ix_button_token_created_at", ["created_at"], unique=False)

    op.create_table(
        "chat_link",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("consent_version", sa.String(length=20), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("unreachable_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_link")),
        sa.UniqueConstraint(
            "school_id",
            "channel",
            "user_id",
            "role",
            "subject_id",
            name=op.f("uq_chat_link_school_id"),
        ),
    )
    with op.batch_alter_table("chat_link", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chat_link_lookup", ["school_id", "channel", "user_id", "active"], unique=False
        )

    op.create_table(
        "conversation_state",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("dialog", sa.String(length=40), nullable=True),
        sa.Column("step", sa.String(length=40), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("menu", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "school_id", "channel", "chat_id", "user_id", name=op.f("pk_conversation_state")
        ),
    )
    op.create_table(
        "guardian",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("relation", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "id", name=op.f("pk_guardian")),
    )
    op.create_table(
        "otp_challenge",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otp_challenge")),
    )
    with op.batch_alter_table("otp_challenge", schema=None) as batch_op:
        batch_op.create_index(
            "ix_otp_challenge_key", ["school_id", "channel", "chat_id", "user_id"], unique=False
        )
        batch_op.create_index(
            "ix_otp_challenge_person", ["school_id", "person_id", "last_sent_at"], unique=False
        )

    op.create_table(
        "school",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("backend", sa.String(length=40), nullable=False),
        sa.Column("school_year", sa.String(length=20), nullable=False),
        sa.Column("current_term", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_school")),
    )
    op.create_table(
        "school_class",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.Column("homeroom_teacher_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("school_id", "id", name=op.f("pk_school_class")),
    )
    op.create_table(
        "subject",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("form", sa.String(length=10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "code", name=op.f("pk_subject")),
    )
    op.create_table(
        "teacher",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("code_folded", sa.String(length=32), nullable=False),
        sa.Column("full_name", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "id", name=op.f("pk_teacher")),
        sa.UniqueConstraint("school_id", "code_folded", name=op.f("uq_teacher_school_id")),
    )
    op.create_table(
        "student",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("code_folded", sa.String(length=32), nullable=False),
        sa.Column("full_name", sa.String(length=120), nullable=False),
        sa.Column("class_id", sa.String(length=64), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id", "class_id"],
            ["school_class.school_id", "school_class.id"],
            name=op.f("fk_student_school_id_school_class"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("school_id", "id", name=op.f("pk_student")),
        sa.UniqueConstraint("school_id", "code_folded", name=op.f("uq_student_school_id")),
    )
    op.create_table(
        "teacher_assignment",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("teacher_id", sa.String(length=64), nullable=False),
        sa.Column("class_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("subject_code", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id", "class_id"],
            ["school_class.school_id", "school_class.id"],
            name=op.f("fk_teacher_assignment_school_id_school_class"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["school_id", "teacher_id"],
            ["teacher.school_id", "teacher.id"],
            name=op.f("fk_teacher_assignment_school_id_teacher"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "school_id",
            "teacher_id",
            "class_id",
            "role",
            "subject_code",
            name=op.f("pk_teacher_assignment"),
        ),
    )
    op.create_table(
        "timetable_slot",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("class_id", sa.String(length=64), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("session", sa.String(length=10), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("subject_name", sa.String(length=120), nullable=False),
        sa.Column("teacher_name", sa.String(length=120), nullable=False),
        sa.Column("room", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id", "class_id"],
            ["school_class.school_id", "school_class.id"],
            name=op.f("fk_timetable_slot_school_id_school_class"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "school_id", "class_id", "weekday", "session", "period", name=op.f("pk_timetable_slot")
        ),
    )
    op.create_table(
        "attendance",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("student_id", sa.String(length=64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("session", sa.String(length=10), nullable=False),
        sa.Column("excused", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id", "student_id"],
            ["student.school_id", "student.id"],
            name=op.f("fk_attendance_school_id_student"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "school_id", "student_id", "date", "session", name=op.f("pk_attendance")
        ),
    )
    op.create_table(
        "fee_item",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("student_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id", "student_id"],
            ["student.school_id", "student.id"],
            name=op.f("fk_fee_item_school_id_student"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("school_id", "id", name=op.f("pk_fee_item")),
    )
    op.create_table(
        "score",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("student_id", sa.String(length=64), nullable=False),
        sa.Column("subject_code", sa.String(length=40), nullable=False),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tenths", sa.Integer(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("required_regular", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id", "student_id"],
            ["student.school_id", "student.id"],
            name=op.f("fk_score_school_id_student"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "school_id", "student_id", "subject_code", "term", "kind", "seq", name=op.f("pk_score")
        ),
    )
    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.create_index("ix_score_updated", ["school_id", "updated_at"], unique=False)

    op.create_table(
        "student_guardian",
        sa.Column("school_id", sa.String(length=40), nullable=False),
        sa.Column("student_id", sa.String(length=64), nullable=False),
        sa.Column("guardian_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id", "guardian_id"],
            ["guardian.school_id", "guardian.id"],
            name=op.f("fk_student_guardian_school_id_guardian"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["school_id", "student_id"],
            ["student.school_id", "student.id"],
            name=op.f("fk_student_guardian_school_id_student"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "school_id", "student_id", "guardian_id", name=op.f("pk_student_guardian")
        ),
    )


def downgrade() -> None:
    op.drop_table("student_guardian")
    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.drop_index("ix_score_updated")

    op.drop_table("score")
    op.drop_table("fee_item")
    op.drop_table("attendance")
    op.drop_table("timetable_slot")
    op.drop_table("teacher_assignment")
    op.drop_table("student")
    op.drop_table("teacher")
    op.drop_table("subject")
    op.drop_table("school_class")
    op.drop_table("school")
    with op.batch_alter_table("otp_challenge", schema=None) as batch_op:
        batch_op.drop_index("ix_otp_challenge_person")
        batch_op.drop_index("ix_otp_challenge_key")

    op.drop_table("otp_challenge")
    op.drop_table("guardian")
    op.drop_table("conversation_state")
    with op.batch_alter_table("chat_link", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_link_lookup")

    op.drop_table("chat_link")
    with op.batch_alter_table("button_token", schema=None) as batch_op:
        batch_op.drop_index("ix_button_token_created_at")

    op.drop_table("button_token")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_actor")

    op.drop_table("audit_event")
    op.drop_table("app_secret")
