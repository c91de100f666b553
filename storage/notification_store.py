"""SQL implementation of ``bot.ports.NotificationRepo``: preferences, watermarks, notices,
notification items and digest runs. Part of the unit of work (``uow.notifications``).

Uniqueness does the exactly-once work: an item is unique per (school, channel, user,
change key) and a digest per key (``digest_run``), both inserted with ON CONFLICT DO NOTHING
so a second scheduler or a re-scan just finds the row there. On PostgreSQL a concurrent
insert of the same key waits for the first transaction and then does nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.digest import (
    DigestPrefs,
    Frequency,
    Item,
    content_from_str,
    content_to_str,
)
from bot.messages import ConversationKey
from bot.ports import Link, LinkRole, StoredItem
from storage.rows import link_of
from storage.tables import (
    ChangeWatermark,
    ChatLink,
    DigestRun,
    Notice,
    NotificationItem,
    NotificationPref,
)


def _prefs(row: NotificationPref) -> DigestPrefs:
    return DigestPrefs(
        frequency=Frequency(row.frequency),
        weekday=row.weekday,
        minute_of_day=row.minute_of_day,
        content=content_from_str(row.content),
        instant=row.instant,
        score_alerts=row.score_alerts,
        locale=row.locale,
    )


class SqlNotificationRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    def _insert(self, table: Any) -> Any:
        dialect = self._s.get_bind().dialect.name
        return (sqlite_insert if dialect == "sqlite" else pg_insert)(table)

    async def prefs(self, school_id: str, channel: str, user_id: str) -> DigestPrefs | None:
        row = await self._s.get(NotificationPref, (school_id, channel, user_id))
        return None if row is None else _prefs(row)

    async def save_prefs(
        self, key: ConversationKey, prefs: DigestPrefs, *, now: dt.datetime
    ) -> None:
        values = {
            "frequency": prefs.frequency.value,
            "weekday": prefs.weekday,
            "minute_of_day": prefs.minute_of_day,
            "content": content_to_str(prefs.content),
            "instant": prefs.instant,
            "score_alerts": prefs.score_alerts,
            "locale": prefs.locale,
            "updated_at": now,
        }
        stmt = self._insert(NotificationPref).values(
            school_id=key.school_id, channel=key.channel, user_id=key.user_id, **values
        )
        await self._s.execute(
            stmt.on_conflict_do_update(
                index_elements=["school_id", "channel", "user_id"], set_=values
            )
        )

    async def all_prefs(self, school_ids: Sequence[str]) -> dict[tuple[str, str, str], DigestPrefs]:
        rows = await self._s.scalars(
            select(NotificationPref).where(NotificationPref.school_id.in_(list(school_ids)))
        )
        return {(r.school_id, r.channel, r.user_id): _prefs(r) for r in rows}

    async def guardian_links(self, school_ids: Sequence[str]) -> Sequence[Link]:

        rows = await self._s.scalars(
            select(ChatLink)
            .where(
                ChatLink.school_id.in_(list(school_ids)),
                ChatLink.role == LinkRole.GUARDIAN.value,
                ChatLink.active.is_(True),
            )
            .order_by(ChatLink.id)
        )
        return [link_of(r) for r in rows]

    async def watermark(self, school_id: str) -> dt.datetime | None:
        row = await self._s.get(ChangeWatermark, school_id)
        return None if row is None else row.watermark

    async def set_watermark(
        self, school_id: str, watermark: dt.datetime, *, now: dt.datetime
    ) -> None:
        await self._s.execute(
            self._insert(ChangeWatermark)
            .values(school_id=school_id, watermark=watermark, updated_at=now)
            .on_conflict_do_nothing(index_elements=["school_id"])
        )
        await self._s.execute(
            update(ChangeWatermark)
            .where(ChangeWatermark.school_id == school_id, ChangeWatermark.watermark < watermark)
            .values(watermark=watermark, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def add_item(
        self,
        *,
        recipient: ConversationKey,
        student_id: str,
        kind: str,
        change_key: str,
        payload: dict[str, Any],
        urgent: bool,
        occurred_at: dt.datetime,
        now: dt.datetime,
    ) -> int | None:
        result = await self._s.execute(
            self._insert(NotificationItem)
            .values(
                school_id=recipient.school_id,
                channel=recipient.channel,
                chat_id=recipient.chat_id,
                user_id=recipient.user_id,
                student_id=student_id,
                kind=kind,
                change_key=change_key[:200],
                payload=payload,
                urgent=urgent,
                occurred_at=occurred_at,
                created_at=now,
            )
            .on_conflict_do_nothing(
                index_elements=["school_id", "channel", "user_id", "change_key"]
            )
            .returning(NotificationItem.id)
        )
        found = result.scalar_one_or_none()
        return None if found is None else int(found)

    async def pending_items(
        self, *, channel: str, user_id: str, school_ids: Sequence[str]
    ) -> Sequence[StoredItem]:
        rows = await self._s.scalars(
            select(NotificationItem)
            .where(
                NotificationItem.channel == channel,
                NotificationItem.user_id == user_id,
                NotificationItem.digest_key.is_(None),
                NotificationItem.school_id.in_(list(school_ids)),
            )
            .order_by(NotificationItem.occurred_at, NotificationItem.id)
        )
        return [
            StoredItem(
                id=r.id,
                school_id=r.school_id,
                student_id=r.student_id,
                item=Item(kind=r.kind, payload=dict(r.payload), occurred_at=r.occurred_at),
            )
            for r in rows
        ]

    async def mark_items(self, item_ids: Sequence[int], *, digest_key: str) -> int:
        if not item_ids:
            return 0
        result = await self._s.execute(
            update(NotificationItem)
            .where(NotificationItem.id.in_(list(item_ids)), NotificationItem.digest_key.is_(None))
            .values(digest_key=digest_key[:200])
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def start_digest(
        self,
        *,
        key: str,
        school_id: str,
        period: str,
        item_count: int,
        queued: bool,
        now: dt.datetime,
    ) -> bool:
        result = await self._s.execute(
            self._insert(DigestRun)
            .values(
                key=key[:200],
                school_id=school_id,
                period=period,
                item_count=item_count,
                queued=queued,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["key"])
        )
        return bool(getattr(result, "rowcount", 0))

    async def digests_made(self, keys: Sequence[str]) -> set[str]:
        made: set[str] = set()
        keys = list(keys)
        for start in range(0, len(keys), 500):
            rows = await self._s.scalars(
                select(DigestRun.key).where(DigestRun.key.in_(keys[start : start + 500]))
            )
            made.update(rows)
        return made

    async def delete_for(self, key: ConversationKey) -> None:
        for table in (NotificationPref, NotificationItem):
            await self._s.execute(
                delete(table).where(
                    table.school_id == key.school_id,
                    table.channel == key.channel,
                    table.user_id == key.user_id,
                )
            )

    async def add_notice(
        self,
        *,
        school_id: str,
        class_id: str | None,
        author: str,
        text: str,
        urgent: bool,
        now: dt.datetime,
    ) -> int:
        row = Notice(
            school_id=school_id,
            class_id=class_id,
            author=author[:64],
            text=text,
            urgent=urgent,
            created_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        return row.id
