"""A school that only has a spreadsheet: the demo school's data exported into the import
template, imported under another school id, and the same parent questions asked of both.
The answers must be identical (same TT22 averages, same timetable, fees and absences)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.backends.demo_data import build_demo_school
from bot.backends.local_import import import_school
from bot.backends.spreadsheet import read_file, write_template
from tests.chat import Chat, demo_app
from tests.fakes.ports import FakeClock, RecordingOtpSender
from tests.workbooks import demo_rows, fill

IMPORTED = "thcs-import"
QUESTIONS = (
    "điểm",
    "điểm công nghệ",
    "diem toan",
    "điểm giáo dục thể chất",
    "tkb thứ 2",
    "tkb thu 5",
    "học phí",
    "chuyên cần",
)


def _demo_workbook(tmp_path: Path) -> Path:
    path = tmp_path / "demo-export.xlsx"
    write_template(path)
    fill(path, demo_rows(build_demo_school()))
    return path


@pytest.mark.parametrize(
    ("code", "phone_label"),
    [("HS8A03", None), ("HS9A05", None), ("HS6A01", "x01")],
)
async def test_parent_of_an_imported_school_gets_the_same_answers_as_the_demo(
    database_url: str,
    tmp_path: Path,
    clock: FakeClock,
    sms: RecordingOtpSender,
    code: str,
    phone_label: str | None,
) -> None:
    async with demo_app(database_url, tmp_path, clock, sms) as app:
        parsed = read_file(_demo_workbook(tmp_path))
        report = await import_school(app.sessions, parsed, school_id=IMPORTED, now=clock.now())
        assert report.ok, report.errors

        demo = Chat(app, user="parent-demo")
        imported = Chat(app, user="parent-imported", school_id=IMPORTED)
        await demo.link(code, sms, phone_label=phone_label)
        await imported.link(code, sms, phone_label=phone_label)
        assert sms.sent[-1].phone == sms.sent[-2].phone  # the OTP went to the same phone

        for question in QUESTIONS:
            await demo.say(question)
            await imported.say(question)
            assert imported.text == demo.text, question
            assert "lỗi" not in imported.text.lower()


async def test_imported_rounding_trap_is_rounded_half_up(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    async with demo_app(sqlite_url, tmp_path, clock, sms) as app:
        parsed = read_file(_demo_workbook(tmp_path))
        assert (await import_school(app.sessions, parsed, school_id=IMPORTED, now=clock.now())).ok
        chat = Chat(app, school_id=IMPORTED)
        await chat.say("/start")
        assert "Nguyễn Du" in chat.text or "mã học sinh" in chat.text
        await chat.link("hs8a03", sms)
        await chat.say("diem cong nghe")
        assert "6,6" in chat.text and "52,4 / 8" in chat.text
