"""SQL implementation of ``bot.ports.NotificationRepo``: preferences, watermarks, notices,
notification items and digest runs. Part of the unit of work (``uow.notifications``).

Uniqueness does the exactly-once work: an item is unique per (school, channel, user,
change key) and a digest per key (``digest_run``), both inserted with ON CONFLICT DO NOTHING
so a second scheduler or a re-scan just finds the row there. On PostgreSQL a concurrent
insert of the same key waits for the first transaction and then does nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select, text, update
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
from bot.ports import DigestStart, Link, LinkRole, StoredItem
from storage.rows import link_of
from storage.tables import (
    ChangeWatermark,
    ChatLink,
    DigestRun,
    Notice,
    NotificationItem,
    NotificationPref,
)

_CHUNK = 1000  # users or rows per statement: well under both engines' parameter limits
_NI = NotificationItem.__table__
_MARK_ONE = text(
    "UPDATE notification_item SET digest_key = :key WHERE id = :item_id AND digest_key IS NULL"
)
_MARK_PG = text(
    "UPDATE notification_item AS n SET digest_key = m.key"
    " FROM unnest(CAST(:ids AS integer[]), CAST(:keys AS varchar[])) AS m(id, key)"
    " WHERE n.id = m.id AND n.digest_key IS NULL"
)


def _prefs(row: NotificationPref) -> DigestPrefs:
    return DigestPrefs(
        frequency=Frequency(row.frequency),
        weekday=row.weekday,
        minute_of_day=row.minute_of_day,
        content=content_from_str(row.content),
        instant=row.instant,
        score_alerts=row.score_alerts,
        post_alerts=row.post_alerts,
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
            "post_alerts": prefs.post_alerts,
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

        links = ChatLink.__table__  # Core rows: a province has 100,000s (no ORM objects)
        rows = await self._s.execute(
            select(links)
            .where(
                links.c.school_id.in_(list(school_ids)),
                links.c.role == LinkRole.GUARDIAN.value,
                links.c.active.is_(True),
            )
            .order_by(links.c.id)
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

    async def pending_items_of(
        self, users: Sequence[tuple[str, str]], *, school_ids: Sequence[str]
    ) -> dict[tuple[str, str], list[StoredItem]]:
        by_channel: dict[str, list[str]] = defaultdict(list)
        for channel, user_id in dict.fromkeys(users):
            by_channel[channel].append(user_id)
        found: dict[tuple[str, str], list[StoredItem]] = defaultdict(list)
        for channel, user_ids in by_channel.items():
            for start in range(0, len(user_ids), _CHUNK):
                rows = await self._s.execute(  # Core rows, fetched at once
                    select(
                        _NI.c.id,
                        _NI.c.school_id,
                        _NI.c.user_id,
                        _NI.c.student_id,
                        _NI.c.kind,
                        _NI.c.payload,
                        _NI.c.occurred_at,
                    )
                    .where(
                        _NI.c.channel == channel,
                        _NI.c.user_id.in_(user_ids[start : start + _CHUNK]),
                        _NI.c.digest_key.is_(None),
                        _NI.c.school_id.in_(list(school_ids)),
                    )
                    .order_by(_NI.c.occurred_at, _NI.c.id)
                )
                for (
                    item_id,
                    school_id,
                    user_id,
                    student_id,
                    kind,
                    payload,
                    occurred_at,
                ) in rows.all():
                    found[(channel, user_id)].append(
                        StoredItem(
                            id=item_id,
                            school_id=school_id,
                            student_id=student_id,
                            item=Item(kind=kind, payload=dict(payload), occurred_at=occurred_at),
                        )
                    )
        return dict(found)

    async def mark_digest_items(self, marks: Mapping[str, Sequence[int]]) -> None:
        pairs = [(int(i), key[:200]) for key, ids in marks.items() for i in ids]
        if not pairs:
            return
        if self._s.get_bind().dialect.name == "postgresql":
            # one statement for the whole batch: the ids and their keys as two arrays
            for start in range(0, len(pairs), 10 * _CHUNK):
                chunk = pairs[start : start + 10 * _CHUNK]
                await self._s.execute(
                    _MARK_PG,
                    {"ids": [i for i, _ in chunk], "keys": [k for _, k in chunk]},
                )
            return
        await self._s.execute(_MARK_ONE, [{"item_id": i, "key": k} for i, k in pairs])

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

    async def start_digests(self, runs: Sequence[DigestStart], *, now: dt.datetime) -> set[str]:
        # One order for every worker (by key): two ticks claiming overlapping batches take the
        # same rows in the same order, so they wait for each other instead of deadlocking.
        ordered = sorted({r.key[:200]: r for r in runs}.items())
        stmt = (
            self._insert(DigestRun.__table__)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(DigestRun.__table__.c.key)
        )
        rows = [
            {
                "key": key,
                "school_id": r.school_id,
                "period": r.period,
                "item_count": r.item_count,
                "queued": r.queued,
                "created_at": now,
            }
            for key, r in ordered
        ]
        claimed: set[str] = set()
        conn = await self._s.connection()  # Core executemany: multi-row INSERTs with RETURNING
        for start in range(0, len(rows), _CHUNK):
            claimed.update((await conn.execute(stmt, rows[start : start + _CHUNK])).scalars().all())
        return claimed

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
