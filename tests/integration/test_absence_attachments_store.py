"""A leave request's files (issue 17) on SQLite and PostgreSQL: stored with the request,
read back in order, dropped by ``/forget`` and, once decided, by the retention purge."""

from __future__ import annotations

import datetime as dt

from bot.messages import Attachment, ConversationKey
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade
from storage.privacy import SqlPrivacyRepo, purge_old_leave_attachments
from storage.uow import SqlAbsenceRepo

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
MUM = ConversationKey(school_id="demo", channel="telegram", chat_id="c-mum", user_id="u-mum")
DAD = ConversationKey(school_id="demo", channel="telegram", chat_id="c-dad", user_id="u-dad")
PHOTO = Attachment(kind="photo", file_id="AgAC-photo", size=120_000)
PDF = Attachment(
    kind="document", file_id="BQAC-doc", name="giấy khám.pdf", mime="application/pdf", size=9
)


async def test_files_are_stored_read_back_forgotten_and_purged(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        async with sessions() as s:
            repo = SqlAbsenceRepo(s)

            async def create(who: ConversationKey, day: int, files: tuple[Attachment, ...]) -> int:
                request = await repo.create(
                    school_id="demo",
                    student_id="st-6a-01",
                    class_id="c-6a",
                    requester=who,
                    guardian_id="g1",
                    start_date=dt.date(2026, 11, day),
                    end_date=dt.date(2026, 11, day),
                    session="day",
                    reason="ốm",
                    now=NOW,
                    attachments=files,
                )
                return request.id

            mum = await create(MUM, 25, (PHOTO, PDF))
            bare = await create(MUM, 26, ())
            dad = await create(DAD, 27, (PDF,))
            dad_pending = await create(DAD, 30, (PHOTO,))
            await s.commit()

        async with sessions() as s:
            repo = SqlAbsenceRepo(s)
            found = await repo.get("demo", mum)
            assert found is not None and found.attachments == (PHOTO, PDF)
            assert "BQAC" not in repr(found)  # a file id never shows in a log line
            bare_request = await repo.get("demo", bare)
            assert bare_request is not None and bare_request.attachments == ()
            pending = await repo.pending_for_classes("demo", ["c-6a"])
            assert [len(r.attachments) for r in pending] == [2, 0, 1, 1]

            await SqlPrivacyRepo(s).forget_user(MUM, now=NOW)
            dad_request = await repo.get("demo", dad)
            assert dad_request is not None
            assert await repo.transition(dad_request, "approved", now=NOW, decided_by="t1")
            await s.commit()

        async with sessions() as s:
            repo = SqlAbsenceRepo(s)
            forgotten = await repo.get("demo", mum)
            assert forgotten is not None and forgotten.attachments == ()
            kept = await repo.get("demo", dad)
            assert kept is not None and kept.attachments == (PDF,)

            assert await purge_old_leave_attachments(s, "demo", older_than=NOW) == 0
            later = NOW + dt.timedelta(days=1)
            assert await purge_old_leave_attachments(s, "demo", older_than=later) == 1
            await s.commit()

        async with sessions() as s:
            repo = SqlAbsenceRepo(s)
            purged = await repo.get("demo", dad)
            assert purged is not None and purged.attachments == () and purged.status == "approved"
            still = await repo.get("demo", dad_pending)  # pending: its teacher still needs it
            assert still is not None and still.attachments == (PHOTO,)
    finally:
        await engine.dispose()
