"""Rows to domain values, shared by the repositories (no repository imports another)."""

from __future__ import annotations

from typing import Any

from bot.messages import ConversationKey
from bot.ports import Link, LinkRole


def key_of(row: Any) -> ConversationKey:
    return ConversationKey(
        school_id=row.school_id, channel=row.channel, chat_id=row.chat_id, user_id=row.user_id
    )


def link_of(row: Any) -> Link:
    """A link from a ``chat_link`` row (an ORM object or a Core row: the same names)."""
    return Link(
        id=row.id,
        key=key_of(row),
        role=LinkRole(row.role),
        subject_id=row.subject_id,
        person_id=row.person_id,
        consent_version=row.consent_version,
        consent_at=row.consent_at,
        verified_at=row.verified_at,
    )
