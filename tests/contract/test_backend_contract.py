"""The SchoolBackend contract, run against every backend: ``local`` (the demo seed),
``rest_json`` (a loopback fake QLHS replaying recorded JSON) and ``oneroster`` (a loopback fake
OneRoster 1.2 server). The same questions get the same answers: the demo school's."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.backends.demo_data import (
    ROUNDING_TRAP_STUDENT_ID,
    ROUNDING_TRAP_SUBJECT_CODE,
    DemoSchool,
    build_demo_school,
)
from bot.backends.local import LocalBackend
from bot.backends.local_seed import seed_school
from bot.backends.oneroster import OneRosterBackend, OneRosterConfig
from bot.backends.rest_json import RestJsonBackend, RestJsonConfig
from bot.domain.errors import BackendUnsupported
from bot.domain.models import Term
from bot.domain.tt22 import term_average
from bot.ports import Capability, ChangeBatch, FamilyRoster, SchoolBackend
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade
from storage.tables import ScoreRow
from tests.fakes.oneroster import FakeOneRoster
from tests.fakes.ports import FakeClock
from tests.fakes.qlhs_rest import FakeQlhs

pytestmark = pytest.mark.contract

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
BACKENDS = ["local", "rest_json", "oneroster"]


@pytest.fixture(scope="module")
def demo() -> DemoSchool:
    return build_demo_school()


# The teacher enters (or corrects) a mark: Phạm Quang Huy (st-8a-03), Toán, giữa kỳ, HKI.
MarkEntered = Callable[[float, dt.datetime], Awaitable[None]]


@dataclass
class Subject:
    """A backend under test, and how a teacher changes a mark in the system behind it."""

    backend: SchoolBackend
    enter_mark: MarkEntered


@pytest.fixture(params=BACKENDS)
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    if request.param == "local":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'contract.sqlite3'}")
        await upgrade(engine)
        sessions = session_factory(engine)
        await seed_school(sessions, build_demo_school(), now=NOW)

        async def in_the_tables(value: float, at: dt.datetime) -> None:
            async with sessions() as s:
                row = await s.scalar(
                    select(ScoreRow).where(
                        ScoreRow.school_id == "demo",
                        ScoreRow.student_id == "st-8a-03",
                        ScoreRow.subject_code == "toan",
                        ScoreRow.kind == "gk",
                    )
                )
                assert row is not None
                row.tenths = round(value * 10)
                row.updated_at = at
                await s.commit()

        yield Subject(LocalBackend(sessions, "demo"), in_the_tables)
        await engine.dispose()
    elif request.param == "rest_json":
        with FakeQlhs() as qlhs:

            async def in_the_qlhs(value: float, at: dt.datetime) -> None:
                version = len(qlhs.changes) + 1
                qlhs.score_changed(
                    "st-8a-03", ("toan", "Toán"), "gk", value, at=at, version=version
                )

            async with httpx.AsyncClient() as client:
                backend = RestJsonBackend(
                    RestJsonConfig.model_validate(qlhs.mapping()),
                    school_id="demo",
                    client=client,
                    clock=FakeClock(),
                )
                yield Subject(backend, in_the_qlhs)
    elif request.param == "oneroster":
        with FakeOneRoster() as provider:

            async def in_the_gradebook(value: float, at: dt.datetime) -> None:
                provider.score_changed("st-8a-03", "toan", "gk1", value, at=at)

            async with httpx.AsyncClient() as client:
                backend = OneRosterBackend(
                    OneRosterConfig.model_validate(provider.config()),
                    school_id="demo",
                    client=client,
                    clock=FakeClock(),
                )
                yield Subject(backend, in_the_gradebook)


@pytest.fixture
def backend(subject: Subject) -> SchoolBackend:
    return subject.backend


async def test_school_info(backend: SchoolBackend, demo: DemoSchool) -> None:
    info = await backend.school_info()
    assert (info.id, info.name, info.school_year, info.current_term) == (
        "demo",
        demo.info.name,
        demo.info.school_year,
        demo.info.current_term,
    )


async def test_every_student_is_found_by_code_in_any_case(
    backend: SchoolBackend, demo: DemoSchool
) -> None:
    for student in demo.students:
        assert await backend.find_student(student.code) == student
        assert await backend.find_student(f"  {student.code.lower()} ") == student
        assert await backend.get_student(student.id) == student


async def test_unknown_codes_and_ids_are_none_or_empty(backend: SchoolBackend) -> None:
    assert await backend.find_student("HS0000") is None
    assert await backend.find_student("   ") is None
    assert await backend.get_student("st-nobody") is None
    assert list(await backend.guardians("st-nobody")) == []
    assert list(await backend.scores("st-nobody", Term.HK1)) == []
    assert await backend.find_teacher("GV999") is None
    if Capability.FEES in backend.capabilities:
        assert list(await backend.fees("st-nobody")) == []
    if Capability.ATTENDANCE in backend.capabilities:
        assert list(await backend.attendance("st-nobody")) == []


async def test_guardians_with_phones(backend: SchoolBackend, demo: DemoSchool) -> None:
    guardians = {g.id: g for g in demo.guardians}
    if not isinstance(backend, FamilyRoster):  # "SMS only" comes with the school's import
        guardians = {gid: replace(g, sms_only=False) for gid, g in guardians.items()}
    for student in demo.students:
        expected = {
            guardians[x.guardian_id] for x in demo.guardian_links if x.student_id == student.id
        }
        assert set(await backend.guardians(student.id)) == expected


async def test_scores_and_tt22_averages(backend: SchoolBackend, demo: DemoSchool) -> None:
    expected: dict[tuple[str, str], object] = {(sid, s.subject_code): s for sid, s in demo.scores}
    for student in demo.students:
        got = {s.subject_code: s for s in await backend.scores(student.id, Term.HK1)}
        want = {code: s for (sid, code), s in expected.items() if sid == student.id}
        assert got == want, student.id
        assert list(await backend.scores(student.id, Term.HK2)) == []
    trap = {s.subject_code: s for s in await backend.scores(ROUNDING_TRAP_STUDENT_ID, Term.HK1)}
    s = trap[ROUNDING_TRAP_SUBJECT_CODE]
    working = term_average(s.regular, s.midterm, s.final)
    assert working is not None
    assert working.rounded == Decimal("6.6")


async def test_questions_beyond_the_capabilities_are_refused_clearly(
    backend: SchoolBackend,
) -> None:
    """Handlers check capabilities first; a backend asked anyway raises BackendUnsupported."""
    calls = {
        Capability.TIMETABLE: lambda: backend.timetable("c-6a"),
        Capability.FEES: lambda: backend.fees("st-6a-01"),
        Capability.ATTENDANCE: lambda: backend.attendance("st-6a-01"),
    }
    for capability, call in calls.items():
        if capability in backend.capabilities:
            await call()
        else:
            with pytest.raises(BackendUnsupported):
                await call()


async def test_timetable(backend: SchoolBackend, demo: DemoSchool) -> None:
    if Capability.TIMETABLE not in backend.capabilities:
        return  # checked by test_questions_beyond_the_capabilities_are_refused_clearly
    order = {"morning": 0, "afternoon": 1}
    for c in demo.classes:
        want = sorted(
            (t for t in demo.timetable if t.class_id == c.id),
            key=lambda t: (t.weekday, order[t.session.value], t.period),
        )
        assert list(await backend.timetable(c.id)) == want


async def test_fees_and_attendance(backend: SchoolBackend, demo: DemoSchool) -> None:
    if not {Capability.FEES, Capability.ATTENDANCE} <= backend.capabilities:
        return  # checked by test_questions_beyond_the_capabilities_are_refused_clearly
    for student in demo.students:
        fees = sorted(await backend.fees(student.id), key=lambda f: f.id)
        assert fees == sorted(
            (f for f in demo.fees if f.student_id == student.id), key=lambda f: f.id
        )
        attendance = sorted(
            await backend.attendance(student.id), key=lambda a: (a.date, str(a.session))
        )
        assert attendance == sorted(
            (a for a in demo.attendance if a.student_id == student.id),
            key=lambda a: (a.date, str(a.session)),
        )


async def test_classes_and_teachers(backend: SchoolBackend, demo: DemoSchool) -> None:
    assert sorted(await backend.classes(), key=lambda c: c.id) == sorted(
        demo.classes, key=lambda c: c.id
    )
    assert sorted(await backend.teachers(), key=lambda t: t.id) == sorted(
        demo.teachers, key=lambda t: t.id
    )
    first = demo.teachers[0]
    assert await backend.find_teacher(first.code.lower()) == first


async def test_capabilities_cover_the_demo_questions(
    backend: SchoolBackend, request: pytest.FixtureRequest
) -> None:
    assert {Capability.STUDENTS, Capability.SCORES, Capability.STAFF} <= backend.capabilities
    if "oneroster" not in request.node.name:  # OneRoster has no timetable, fees, attendance
        assert {
            Capability.TIMETABLE,
            Capability.FEES,
            Capability.ATTENDANCE,
        } <= backend.capabilities


async def test_absence_write_is_idempotent_or_unsupported(backend: SchoolBackend) -> None:
    day = dt.date(2026, 11, 25)
    if Capability.ABSENCE_WRITE not in backend.capabilities:
        with pytest.raises(BackendUnsupported):
            await backend.record_absence("st-6a-01", day, "day", excused=True, reason="ốm")
        return
    await backend.record_absence("st-6a-01", day, "day", excused=True, reason="ốm")
    await backend.record_absence("st-6a-01", day, "day", excused=True, reason="ốm")


# --- change detection (issue 5): every backend reports new marks the same way ---------------


async def test_every_backend_reports_changes(backend: SchoolBackend) -> None:
    assert Capability.CHANGES in backend.capabilities


async def test_no_watermark_starts_from_now_without_flooding(backend: SchoolBackend) -> None:
    batch = await backend.changes_since(None, now=NOW)
    assert batch == ChangeBatch(changes=(), watermark=NOW)


async def test_a_new_mark_is_one_change_with_the_digest_payload(subject: Subject) -> None:
    backend = subject.backend
    start = (await backend.changes_since(None, now=NOW)).watermark
    assert (await backend.changes_since(start, now=NOW)).changes == ()

    entered = NOW + dt.timedelta(hours=3)  # 12:00 in Hà Nội
    await subject.enter_mark(9.5, entered)
    batch = await backend.changes_since(start, now=entered + dt.timedelta(minutes=1))
    assert len(batch.changes) == 1
    change = batch.changes[0]
    assert (change.kind, change.student_id, change.urgent) == ("scores", "st-8a-03", False)
    assert change.payload == {"subject": "Toán", "score_kind": "gk", "term": 1, "value": "9.5"}
    assert change.occurred_at == entered
    assert batch.watermark == entered

    # the Notifier polls again with an overlap: the same version has the same key
    again = await backend.changes_since(batch.watermark - dt.timedelta(minutes=5), now=entered)
    assert [c.key for c in again.changes] == [change.key]
    assert (await backend.changes_since(batch.watermark, now=entered)).changes == ()

    # a correction is a new version: a new key, and a 10 is written "10"
    corrected = entered + dt.timedelta(minutes=30)
    await subject.enter_mark(10, corrected)
    later = await backend.changes_since(batch.watermark, now=corrected)
    assert len(later.changes) == 1
    assert later.changes[0].key != change.key
    assert later.changes[0].payload["value"] == "10"
    assert later.watermark == corrected
