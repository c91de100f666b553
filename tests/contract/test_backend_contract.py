"""The SchoolBackend contract, run against every backend: ``local`` (the demo seed),
``rest_json`` (a loopback fake QLHS replaying recorded JSON) and ``oneroster`` (a loopback fake
OneRoster 1.2 server). The same questions get the same answers: the demo school's."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

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
from bot.ports import Capability, SchoolBackend
from storage.engine import create_engine, session_factory
from storage.migrate import upgrade
from tests.fakes.oneroster import FakeOneRoster
from tests.fakes.ports import FakeClock
from tests.fakes.qlhs_rest import FakeQlhs

pytestmark = pytest.mark.contract

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
BACKENDS = ["local", "rest_json", "oneroster"]


@pytest.fixture(scope="module")
def demo() -> DemoSchool:
    return build_demo_school()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SchoolBackend]:
    if request.param == "local":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'contract.sqlite3'}")
        await upgrade(engine)
        sessions = session_factory(engine)
        await seed_school(sessions, build_demo_school(), now=NOW)
        yield LocalBackend(sessions, "demo")
        await engine.dispose()
    elif request.param == "rest_json":
        with FakeQlhs() as qlhs:
            async with httpx.AsyncClient() as client:
                yield RestJsonBackend(
                    RestJsonConfig.model_validate(qlhs.mapping()),
                    school_id="demo",
                    client=client,
                    clock=FakeClock(),
                )
    elif request.param == "oneroster":
        with FakeOneRoster() as provider:
            async with httpx.AsyncClient() as client:
                yield OneRosterBackend(
                    OneRosterConfig.model_validate(provider.config()),
                    school_id="demo",
                    client=client,
                    clock=FakeClock(),
                )


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
