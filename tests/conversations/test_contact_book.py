"""A homeroom teacher asks for the printed contact book in chat and gets the PDF (issue 16);
nobody else gets one, and a class button is re-checked when pressed."""

from __future__ import annotations

import datetime as dt
import io

import pypdf

from bot.bootstrap import App
from tests.chat import Chat
from tests.fakes.ports import RecordingOtpSender

TEACHER_6A = "GV001"  # homeroom 6A, also teaches 7A


def _pdf_texts(chat: Chat) -> tuple[str, list[str]]:
    documents = [r.document for r in chat.last if r.document is not None]
    assert len(documents) == 1, chat.last
    filename, data = documents[0]
    return filename, [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages]


async def test_homeroom_teacher_gets_the_class_contact_book_as_a_pdf(
    app: App, sms: RecordingOtpSender
) -> None:
    teacher = Chat(app, user="teacher")
    await teacher.link(TEACHER_6A, sms)
    await teacher.say("in sổ liên lạc lớp 6A tháng 11/2026")
    roster = await app.services.backends.for_school("demo").class_students("c-6a")
    filename, pages = _pdf_texts(teacher)
    assert filename == "so-lien-lac-6a-2026-11.pdf"
    assert len(pages) == len(roster) > 1
    for student, text in zip(roster, pages, strict=True):
        assert student.full_name in text and "Lớp 6A" in text
        assert "Toán" in text and "Chữ ký của cha mẹ học sinh" in text
    assert f"{len(roster)} trang" in teacher.text and "thầy/cô" in teacher.text.lower()
    assert all(r.private_only for r in teacher.last if r.document is not None)

    await teacher.say("/solienlac")  # the month under way, the only class
    _, pages = _pdf_texts(teacher)
    assert "SỔ LIÊN LẠC THÁNG 11/2026" in pages[0]


async def test_a_teacher_never_gets_another_class_and_a_parent_gets_none(
    app: App, sms: RecordingOtpSender
) -> None:
    teacher = Chat(app, user="teacher")
    await teacher.link(TEACHER_6A, sms)
    await teacher.say("in sổ liên lạc lớp 8A")
    assert "không do thầy/cô chủ nhiệm" in teacher.text
    assert all(r.document is None for r in teacher.last)
    await teacher.say("in sổ liên lạc lớp 7A")  # teaches there, not its homeroom teacher
    assert "không do thầy/cô chủ nhiệm" in teacher.text

    parent = Chat(app, user="mum")
    await parent.link("HS8A03", sms)
    await parent.say("in sổ liên lạc")
    assert "Chỉ thầy/cô chủ nhiệm" in parent.text
    assert all(r.document is None for r in parent.last)


async def test_text_only_channel_says_where_to_get_the_book(
    app: App, sms: RecordingOtpSender
) -> None:
    teacher = Chat(app, user="teacher", channel="memory_text")
    await teacher.link(TEACHER_6A, sms)
    await teacher.say("in sổ liên lạc")
    assert "Telegram" in teacher.text and "văn phòng nhà trường" in teacher.text
    assert all(r.document is None for r in teacher.last)


async def test_class_buttons_are_rechecked_when_pressed(app: App, sms: RecordingOtpSender) -> None:
    backend = app.services.backends.for_school("demo")
    me = await backend.find_teacher(TEACHER_6A)
    assert me is not None
    today = dt.date(2026, 11, 23)
    async with app.uow_factory() as uow:
        sub = await uow.substitutes.add(
            school_id="demo",
            class_id="c-8a",
            teacher_id=me.id,
            start_date=today,
            end_date=today,
            now=app.services.clock.now(),
        )
        await uow.commit()
    teacher = Chat(app, user="teacher")
    await teacher.link(TEACHER_6A, sms)
    await teacher.say("in sổ liên lạc tháng 11/2026")
    assert teacher.buttons() == ["6A", "8A"]
    stale = teacher.button("8A").token

    await teacher.press("8A")
    _, pages = _pdf_texts(teacher)
    assert "Lớp 8A" in pages[0]

    async with app.uow_factory() as uow:  # the substitution ends: the button no longer works
        assert await uow.substitutes.remove("demo", sub.id)
        await uow.commit()
    await teacher.press_token(stale)
    assert all(r.document is None for r in teacher.last)
    assert teacher.text.startswith("Nút này không dành cho thầy/cô")


async def test_words_typed_inside_a_notice_stay_in_the_notice(
    app: App, sms: RecordingOtpSender
) -> None:
    teacher = Chat(app, user="teacher")
    await teacher.link(TEACHER_6A, sms)
    await teacher.say("/thongbao")
    await teacher.press("6A")
    await teacher.say("Phụ huynh ký vào sổ liên lạc in sẵn và nộp lại thứ Hai.")
    assert "Xem trước" in teacher.text
    assert all(r.document is None for r in teacher.last)
