"""Rows to domain values, shared by the repositories (no repository imports another)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.messages import Attachment, ConversationKey
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


def attachments_json(attachments: Sequence[Attachment]) -> str:
    """A leave request's file references as stored (issue 17); "" for none."""
    if not attachments:
        return ""
    return json.dumps(
        [
            {"kind": a.kind, "file_id": a.file_id, "name": a.name, "mime": a.mime, "size": a.size}
            for a in attachments
        ],
        ensure_ascii=False,
    )


def attachments_of(stored: str | None) -> tuple[Attachment, ...]:
    """The file references back; a damaged value reads as none (never an error)."""
    if not stored:
        return ()
    try:
        items = json.loads(stored)
    except ValueError:
        return ()
    if not isinstance(items, list):
        return ()
    return tuple(a for i in items if (a := Attachment.from_dict(i)) is not None)
