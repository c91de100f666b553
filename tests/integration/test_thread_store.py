"""The relayed-message store (issue 17) on SQLite and PostgreSQL: threads, the hourly count,
held replies, office hours, retention, the CSV export and ``/forget``."""

from __future__ import annotations

import csv
import datetime as dt
import io

from bot.domain.threads import Delivery, OfficeHours, Sender
from bot.messages import ConversationKey
from bot.ports import OutgoingMessage
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade
from storage.privacy import SqlPrivacyRepo
from storage.thread_store import SqlThreadRepo, export_csv, purge_old_messages
from storage.uow import SqlOutboxRepo

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
MUM = ConversationKey(school_id="demo", channel="zalo_oa", chat_id="c-mum", user_id="u-mum")
DAD = ConversationKey(school_id="demo", channel="telegram", chat_id="c-dad", user_id="u-dad")
GV = ConversationKey(school_id="demo", channel="telegram", chat_id="gv", user_id="gv")


async def test_threads_messages_retention_export_and_forget(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        async with sessions() as s:
            repo = SqlThreadRepo(s)
            mum = await repo.open(
                school_id="demo",
                student_id="st-6a-01",
                class_id="6a",
                teacher_id="t1",
                guardian_id="g1",
                parent=MUM,
                now=NOW,
            )
            again = await repo.open(
                school_id="demo",
                student_id="st-6a-01",
                class_id="6a",
                teacher_id="t1",
                guardian_id="g1",
                parent=MUM,
                now=NOW,
            )
            assert again.id == mum.id and again.parent == MUM
            dad = await repo.open(
                school_id="demo",
                student_id="st-8a-03",
                class_id="8a",
                teacher_id="t7",
                guardian_id="g9",
                parent=DAD,
                now=NOW,
            )
            await repo.add_message(
                mum,
                sender=Sender.PARENT,
                body="tin cũ",
                urgent=False,
                status=Delivery.QUEUED,
                deliver_at=None,
                now=NOW - dt.timedelta(days=400),
            )
            await repo.add_message(
                mum,
                sender=Sender.PARENT,
                body="cháu ốm",
                urgent=True,
                status=Delivery.QUEUED,
                deliver_at=None,
                now=NOW,
            )
            held = await repo.add_message(
                mum,
                sender=Sender.TEACHER,
                body="cô trả lời",
                urgent=False,
                status=Delivery.HELD,
                deliver_at=None,
                now=NOW - dt.timedelta(days=500),
            )
            await repo.add_message(
                dad,
                sender=Sender.PARENT,
                body="tin của bố",
                urgent=False,
                status=Delivery.QUEUED,
                deliver_at=NOW + dt.timedelta(hours=5),
                now=NOW,
            )
            await SqlOutboxRepo(s).enqueue(
                OutgoingMessage(
                    recipient=GV,
                    kind="thread.message",
                    text="cháu ốm",
                    dedupe_key=f"thread:demo:{mum.id}:2:telegram:gv",
                ),
                now=NOW,
            )
            await s.commit()

        async with sessions() as s:
            repo = SqlThreadRepo(s)
            since = NOW - dt.timedelta(hours=1)
            assert await repo.count_since(mum.id, sender=Sender.PARENT, since=since) == 1
            assert await repo.count_since(mum.id, sender=Sender.TEACHER, since=since) == 0
            [(thread, message)] = await repo.held_for(MUM)
            assert (thread.id, message.id, message.body) == (mum.id, held.id, "cô trả lời")
            assert await repo.held_for(DAD) == []
            await repo.parent_wrote(MUM, now=NOW + dt.timedelta(days=1))
            await repo.set_muted(mum.id, muted=True, now=NOW)
            await repo.mark(held.id, Delivery.RELEASED)
            assert await repo.office_hours("demo", "t1") is None
            hours = OfficeHours(start=dt.time(7, 30), end=dt.time(16, 0))
            await repo.set_office_hours("demo", "t1", hours, now=NOW)
            await repo.set_office_hours("demo", "t1", hours, now=NOW)
            await s.commit()

        async with sessions() as s:
            repo = SqlThreadRepo(s)
            got = await repo.get("demo", mum.id)
            assert got is not None and got.muted_at is not None
            assert got.parent_seen_at == NOW + dt.timedelta(days=1)
            assert await repo.get("other-school", mum.id) is None
            assert await repo.held_for(MUM) == []
            assert await repo.office_hours("demo", "t1") == OfficeHours(
                start=dt.time(7, 30), end=dt.time(16, 0)
            )
            # retention: the 400-day-old message goes, the held reply would have stayed
            gone = await purge_old_messages(s, "demo", older_than=NOW - dt.timedelta(days=365))
            assert gone == 2  # the old parent's message and the released (no longer held) reply
            await s.commit()

        async with sessions() as s:
            rows = list(csv.DictReader(io.StringIO(await export_csv(s, "demo"))))
            assert [r["text"] for r in rows] == ["cháu ốm", "tin của bố"]
            assert [r["class_id"] for r in rows] == ["6a", "8a"]
            assert all("u-mum" not in ",".join(r.values()) for r in rows)
            only = list(csv.DictReader(io.StringIO(await export_csv(s, "demo", "8a"))))
            assert [r["text"] for r in only] == ["tin của bố"]

        async with sessions() as s:
            await SqlPrivacyRepo(s).forget_user(MUM, now=NOW)
            await s.commit()
        async with sessions() as s:
            rows = list(csv.DictReader(io.StringIO(await export_csv(s, "demo"))))
            assert [r["text"] for r in rows] == ["tin của bố"]
            assert await SqlThreadRepo(s).get("demo", mum.id) is None
            from sqlalchemy import func, select

            from storage.tables import OutboxMessage

            left = await s.scalar(select(func.count()).select_from(OutboxMessage))
            assert left == 0  # the card for the teacher with the mother's words went too
    finally:
        await engine.dispose()
