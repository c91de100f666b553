"""``digest``: one scheduler tick that composes and queues the daily digest of N linked
guardians, each with a few pending notification items, against a plain bulk INSERT of N outbox
rows into the same table (the baseline), in the same database and run.

The tick is the real one (:func:`bot.bootstrap.build_scheduler`, ``DigestScheduler.run_once``
at 19:05 school time on a Monday): change detection at every school, then the digests due.
Setup (schools, classes, pupils, guardians, links, items, tomorrow's timetable) is written with
bulk Core inserts into the real tables and is not timed. Schools of 1,000 pupils each, so a
bigger N is a bigger province. Targets (issue 15, PostgreSQL): ≤ 5× the bulk INSERT, and the
100k tick ≤ 11× the 10k tick.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import data
from bench.common import Figure
from bench.setup import database, settings_for
from bot.bootstrap import App, build_scheduler, opened_app
from bot.config import SchoolSettings
from bot.domain.digest import Content, score_payload
from bot.ports import LinkRole
from bot.turn import CONSENT_VERSION
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.tables import (
    ChatLink,
    DigestRun,
    GuardianRow,
    NotificationItem,
    OutboxMessage,
    School,
    SchoolClassRow,
    StudentGuardianRow,
    StudentRow,
    TimetableSlotRow,
)

NOW = dt.datetime(2026, 11, 23, 12, 5, tzinfo=dt.UTC)  # Monday 19:05 in Hà Nội: digests due
PER_SCHOOL = 1000
ITEMS = 3  # pending items per guardian (new scores)
FIRST_CHAT = 700_000
LESSONS = ("Toán", "Ngữ văn", "Tiếng Anh", "Khoa học tự nhiên", "Lịch sử và Địa lí")
# What a baseline row says: about the length of a digest with three scores and tomorrow.
SAMPLE_TEXT = (
    "📋 Tin trong ngày 23/11/2026\n\n👤 Nguyễn Minh An (6A1)\n• Toán — điểm thường xuyên: 8,5\n"
    "• Ngữ văn — điểm giữa kỳ: 7\n• Tiếng Anh — điểm thường xuyên: 9\n• Thứ Ba: Toán, Ngữ văn, "
    "Tiếng Anh, Khoa học tự nhiên, Lịch sử và Địa lí\n\nGõ /caidat để đổi giờ nhận tin."
)


def _schools(guardians: int, per_school: int = PER_SCHOOL) -> list[str]:
    return [data.school_id(s) for s in range(max(1, -(-guardians // per_school)))]


async def _bulk(
    engine: AsyncEngine, table: Any, rows: Iterable[dict[str, Any]], chunk: int = 5000
) -> None:
    batch: list[dict[str, Any]] = []
    async with engine.begin() as conn:
        for row in rows:
            batch.append(row)
            if len(batch) >= chunk:
                await conn.execute(insert(table), batch)
                batch = []
        if batch:
            await conn.execute(insert(table), batch)


async def seed(
    engine: AsyncEngine, guardians: int, *, per_school: int = PER_SCHOOL, items: int = ITEMS
) -> None:
    """N pupils over schools of ``per_school``, each with one linked guardian (Telegram chat
    ``FIRST_CHAT + n`` for the n-th pupil) and ``items`` pending score items; every class has
    lessons tomorrow (Tuesday)."""
    schools = _schools(guardians, per_school)
    per = min(per_school, guardians)
    pupils = list(data.pupils(len(schools), per))[:guardians]
    then = NOW - dt.timedelta(hours=3)
    await _bulk(
        engine,
        School.__table__,
        (
            {
                "id": sid,
                "name": f"Trường THCS số {n + 1}",
                "timezone": "Asia/Ho_Chi_Minh",
                "backend": "local",
                "school_year": "2026-2027",
                "current_term": 1,
                "created_at": then,
            }
            for n, sid in enumerate(schools)
        ),
    )
    classes = {(p.school_id, p.class_id): p for p in pupils}
    await _bulk(
        engine,
        SchoolClassRow.__table__,
        (
            {
                "school_id": s,
                "id": c,
                "name": p.class_name,
                "grade": p.grade,
                "homeroom_teacher_id": None,
            }
            for (s, c), p in classes.items()
        ),
    )
    await _bulk(
        engine,
        TimetableSlotRow.__table__,
        (
            {
                "school_id": s,
                "class_id": c,
                "weekday": 1,  # Tuesday
                "session": "morning",
                "period": i + 1,
                "subject_name": lesson,
                "teacher_name": "",
                "room": "",
            }
            for (s, c) in classes
            for i, lesson in enumerate(LESSONS)
        ),
    )
    await _bulk(
        engine,
        StudentRow.__table__,
        (
            {
                "school_id": p.school_id,
                "id": p.id,
                "code": p.code,
                "code_folded": p.code,
                "full_name": p.full_name,
                "class_id": p.class_id,
                "birth_date": None,
            }
            for p in pupils
        ),
    )
    await _bulk(
        engine,
        GuardianRow.__table__,
        (
            {
                "school_id": p.school_id,
                "id": p.guardian_id,
                "name": p.guardian_name,
                "phone": p.guardian_phone,
                "relation": "mẹ",
            }
            for p in pupils
        ),
    )
    await _bulk(
        engine,
        StudentGuardianRow.__table__,
        (
            {
                "school_id": p.school_id,
                "student_id": p.id,
                "guardian_id": p.guardian_id,
                "position": 0,
            }
            for p in pupils
        ),
    )
    await _bulk(
        engine,
        ChatLink.__table__,
        (
            {
                "school_id": p.school_id,
                "channel": "telegram",
                "chat_id": str(FIRST_CHAT + n),
                "user_id": str(FIRST_CHAT + n),
                "role": LinkRole.GUARDIAN.value,
                "subject_id": p.id,
                "person_id": p.guardian_id,
                "consent_version": CONSENT_VERSION,
                "consent_at": then,
                "verified_at": then,
                "active": True,
                "unreachable_at": None,
            }
            for n, p in enumerate(pupils)
        ),
    )
    await _bulk(engine, NotificationItem.__table__, _items(pupils, then, items))
    async with engine.begin() as conn:  # a live database has statistics (autovacuum)
        await conn.execute(text("ANALYZE"))


def _items(pupils: list[data.Pupil], then: dt.datetime, items: int) -> Iterable[dict[str, Any]]:
    for n, p in enumerate(pupils if items else ()):
        marks = data.scores(p)[:items]
        for k, mark in enumerate(marks):
            yield {
                "school_id": p.school_id,
                "channel": "telegram",
                "chat_id": str(FIRST_CHAT + n),
                "user_id": str(FIRST_CHAT + n),
                "student_id": p.id,
                "kind": Content.SCORES.value,
                "change_key": f"score:{p.id}:{mark.subject.code}:tx1",
                "payload": score_payload(
                    subject=mark.subject.name,
                    score_kind="gk" if k == 1 else "tx",
                    term=1,
                    value=mark.midterm if k == 1 else mark.regular[0],
                    passed=None,
                ),
                "urgent": False,
                "occurred_at": then + dt.timedelta(minutes=k),
                "created_at": then + dt.timedelta(minutes=k),
                "digest_key": None,
            }


async def bulk_insert(app: App, count: int) -> float:
    """The baseline: ``count`` pending outbox rows in one transaction (seconds)."""
    began = time.perf_counter()
    expires = NOW + dt.timedelta(hours=20)
    await _bulk(
        app.engine,
        OutboxMessage.__table__,
        (
            {
                "school_id": "bulk",
                "channel": "telegram",
                "chat_id": str(FIRST_CHAT + n),
                "user_id": str(FIRST_CHAT + n),
                "kind": "digest",
                "payload": {"text": SAMPLE_TEXT, "buttons": [], "locale": "vi"},
                "dedupe_key": f"bulk:{n}",
                "urgent": False,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": NOW,
                "expires_at": expires,
                "created_at": NOW,
                "last_error": "",
            }
            for n in range(count)
        ),
        chunk=count,
    )
    elapsed = time.perf_counter() - began
    async with app.engine.begin() as conn:
        await conn.execute(delete(OutboxMessage))
    return elapsed


async def _one(kind: str, guardians: int) -> tuple[float, float]:
    """(seconds for the tick, seconds for the bulk INSERT) with N guardians."""
    async with database(kind) as (url, folder):
        schools = [SchoolSettings(id=sid) for sid in _schools(guardians)]
        settings = settings_for(url, folder, schools=schools)
        engine = create_engine(url)
        try:
            await upgrade(engine)
            await seed(engine, guardians)
        finally:
            await engine.dispose()
        async with opened_app(settings, console_write=lambda s: None) as app:
            baseline = await bulk_insert(app, guardians)
            scheduler = build_scheduler(app)
            began = time.perf_counter()
            result = await scheduler.run_once(NOW)
            elapsed = time.perf_counter() - began
            async with app.engine.connect() as conn:
                queued = await conn.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.kind == "digest")
                )
                runs = await conn.scalar(select(func.count()).select_from(DigestRun))
            if result.digests != guardians or queued != guardians or runs != guardians:
                raise RuntimeError(
                    f"{guardians} digests expected, tick said {result.digests}, "
                    f"{queued} queued, {runs} digest runs"
                )
    return elapsed, baseline


def measure(kinds: tuple[str, ...], *, small: int, large: int, smoke: bool) -> list[Figure]:
    figures: list[Figure] = []
    for kind in kinds:
        name = f"digest/{kind}"
        targeted = kind == "postgres" and not smoke  # the targets are for PostgreSQL
        times: dict[int, float] = {}
        for n in (small, large):
            ours, bulk = asyncio.run(_one(kind, n))
            times[n] = ours
            ratio = ours / bulk
            figures.append(
                Figure(
                    bench=name,
                    measure=f"daily digest tick, {n} guardians",
                    value=ours,
                    unit="s",
                    baseline=bulk,
                    target="≤ 5× bulk INSERT" if targeted else "",
                    met=ratio <= 5 if targeted else None,
                )
            )
        scale = times[large] / times[small]
        figures.append(
            Figure(
                bench=name,
                measure=f"tick {large} / tick {small}",
                value=scale,
                unit="×",
                target=f"≤ {1.1 * large / small:g}" if targeted else "",
                met=scale <= 1.1 * large / small if targeted else None,
            )
        )
    return figures
