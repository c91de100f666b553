"""Leave requests (issue 4): the parent asks, the homeroom teacher decides in chat, the
school record and the parent follow. The clock stands on Monday 23/11/2026, 09:00 Hà Nội;
Tuesday 24/11 is a public holiday (Ngày Văn hóa Việt Nam), Wednesday 25/11 a school day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, cast

from bot.bootstrap import App
from bot.domain.errors import BackendUnavailable, BackendUnsupported
from bot.messages import Attachment, Incoming
from bot.ports import Capability, SchoolBackend
from storage.stats import absence_stats
from tests.chat import Chat, Postman, demo_app
from tests.fakes.ports import FakeClock, RecordingOtpSender

AN = "HS6A01"  # Nguyễn Minh An, 6A; guardians Mẹ 0900000001 and Bố 0900000002
HA = "HS8A02"  # Nguyễn Thu Hà, 8A; also Mẹ's child
HUY = "HS8A03"  # Phạm Quang Huy, 8A; one guardian
GVCN_6A = "GV001"
GVCN_8A = "GV007"
GVCN_7A = "GV003"


async def parent_of_an(app: App, sms: RecordingOtpSender, user: str = "me-an") -> Chat:
    chat = Chat(app, user=user)
    await chat.link(AN, sms, phone_label="Mẹ")
    return chat


async def teacher(app: App, sms: RecordingOtpSender, code: str, user: str) -> Chat:
    chat = Chat(app, user=user)
    await chat.link(code, sms)
    return chat


async def send_request(chat: Chat, text: str = "xin nghỉ cho cháu thứ 4 cả ngày vì ốm") -> int:
    await chat.say(text)
    assert any("Gửi đơn" in b for b in chat.buttons()), chat.text
    await chat.press("Gửi đơn")
    assert "đơn #" in chat.text, chat.text
    return int(chat.text.split("#", 1)[1].split()[0])


async def test_whole_loop_parent_asks_teacher_approves_record_and_parent_follow(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = await parent_of_an(app, sms)
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    post = Postman(app)

    await parent.say("cho cháu nghỉ thứ 4 vì ốm")
    assert "buổi nào" in parent.text  # dates and reason were in the message: only the session
    await parent.press("cả ngày")
    assert "Thứ Tư 25/11/2026 (cả ngày)" in parent.text
    assert "Lý do: ốm" in parent.text
    await parent.press("Gửi đơn")
    assert "Đã gửi đơn #1" in parent.text

    [card] = await post.deliver()
    assert card.recipient.user_id == "gv-6a"
    assert "Nguyễn Minh An (6A)" in card.text and "ốm" in card.text
    assert "Năm học này đã nghỉ:" in card.text

    await gv.press_token(card.token("Duyệt"))
    assert "Đã duyệt đơn #1" in gv.text and "sổ điểm danh" in gv.text

    [note] = await post.deliver()
    assert note.recipient.user_id == "me-an"
    assert "đã được" in note.text and "duyệt" in note.text

    await parent.say("chuyên cần")
    assert "25/11/2026" in parent.text and "có phép" in parent.text


async def test_double_tap_and_forged_press_change_nothing(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = await parent_of_an(app, sms)
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    other = await teacher(app, sms, GVCN_7A, "gv-7a")
    post = Postman(app)
    await send_request(parent)
    [card] = await post.deliver()
    token = card.token("Duyệt")

    await other.press_token(token)  # someone else's button
    assert "không dành cho" in other.text
    await gv.press_token(token)
    assert "Đã duyệt" in gv.text
    await gv.press_token(token)  # double tap
    assert "đã được duyệt trước đó" in gv.text
    parent_notes = [d for d in await post.deliver() if d.recipient.user_id == "me-an"]
    assert len(parent_notes) == 1


async def test_class_isolation_teacher_of_7a_cannot_decide_for_6a(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = await parent_of_an(app, sms)
    other = await teacher(app, sms, GVCN_7A, "gv-7a")
    request_id = await send_request(parent)
    await other.say(f"duyet {request_id}")
    assert "không thuộc lớp" in other.text
    await other.say("đơn chờ duyệt")
    assert "Không có đơn" in other.text
    await parent.say("đơn đã gửi")
    assert f"#{request_id}" in parent.text  # still pending


async def test_reject_with_reason_through_the_button(app: App, sms: RecordingOtpSender) -> None:
    parent = await parent_of_an(app, sms)
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    post = Postman(app)
    await send_request(parent)
    [card] = await post.deliver()
    await gv.press_token(card.token("Từ chối"))
    assert "Gõ lý do" in gv.text
    await gv.say("Tuần này lớp kiểm tra giữa kỳ, mời phụ huynh gọi cho cô")
    assert "Đã từ chối đơn #1" in gv.text
    [note] = await post.deliver()
    assert "không được" in note.text and "kiểm tra giữa kỳ" in note.text


async def test_typed_commands_on_a_channel_without_buttons(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = Chat(app, user="me-an", channel="memory_text")
    await parent.link(AN, sms, phone_label="Mẹ")
    gv = Chat(app, user="gv-6a", channel="memory_text")
    await gv.link(GVCN_6A, sms)
    post = Postman(app)
    await parent.say("xin nghi cho chau ngay 25/11 buoi sang vi di kham rang")
    await parent.say("gui")
    assert "Đã gửi đơn #1" in parent.text
    [card] = await post.deliver()
    assert card.buttons == () and "duyet 1" in card.text
    await gv.say("tu choi 1")  # no reason typed: asked for one, as after the button
    assert "Đã từ chối" not in gv.text and "lý do" in gv.text.lower()
    await gv.say("lop co kiem tra")
    assert "Đã từ chối đơn #1" in gv.text
    [note] = await post.deliver()
    assert "lop co kiem tra" in note.text
    await gv.say("duyet 1")
    assert "đã bị từ chối trước đó" in gv.text


async def test_two_children_asks_which_one_unless_named(app: App, sms: RecordingOtpSender) -> None:
    parent = await parent_of_an(app, sms)
    await parent.say("thêm con")
    await parent.link(HA, sms, phone_label="Mẹ")
    await parent.say("xin nghỉ")
    assert "con nào" in parent.text
    await parent.press("Nguyễn Thu Hà")
    assert "ngày nào" in parent.text
    await parent.say("/huy")
    await parent.say("xin cho Hà nghỉ 25/11 cả ngày vì việc gia đình")
    assert "Nguyễn Thu Hà (8A)" in parent.text and "Gửi đơn" in parent.text


async def test_each_date_problem_gets_its_own_answer(app: App, sms: RecordingOtpSender) -> None:
    parent = await parent_of_an(app, sms)
    cases = {
        "xin nghỉ 20/11": "ngày đã qua",
        "xin nghỉ 29/11": "Chủ Nhật",
        "xin nghỉ 24/11": "nghỉ lễ",
        "xin nghỉ 25/11-10/12": "tối đa 5 ngày",
        "xin nghỉ hôm nay": "quá 07:00",
    }
    for text, expected in cases.items():
        await parent.say("/huy")
        await parent.say(text)
        assert expected in parent.text, (text, parent.text)
        assert "ngày nào" in parent.text  # and asks again


async def test_reason_empty_or_too_long_and_overlap(app: App, sms: RecordingOtpSender) -> None:
    parent = await parent_of_an(app, sms)
    await send_request(parent, "xin nghỉ 25/11 cả ngày vì ốm")
    await parent.say("xin nghỉ 25/11 buổi sáng vì đi khám")
    assert "trùng ngày" in parent.text
    await parent.say("26/11")  # session and reason are kept: straight to the summary
    assert "Thứ Năm 26/11/2026 (buổi sáng)" in parent.text and "đi khám" in parent.text
    await parent.say("/huy")
    await parent.say("xin nghỉ 27/11 cả ngày")
    assert "Lý do" in parent.text
    await parent.say("x" * 400)
    assert "hơi dài" in parent.text
    await parent.say("   ")
    assert "tin nhắn chữ" in parent.text  # nothing typed: a polite nudge, the dialog waits
    await parent.say("đi đám cưới")
    assert "Thứ Sáu 27/11/2026 (cả ngày)" in parent.text


async def test_parent_cancels_then_teacher_decision_changes_nothing(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = await parent_of_an(app, sms)
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    post = Postman(app)
    request_id = await send_request(parent)
    [card] = await post.deliver()
    await parent.press(f"Hủy đơn #{request_id}")
    assert f"Đã hủy đơn xin nghỉ #{request_id}" in parent.text
    notes = await post.deliver()
    assert any("đã hủy" in n.text for n in notes if n.recipient.user_id == "gv-6a")
    await gv.press_token(card.token("Duyệt"))
    assert "Phụ huynh đã hủy" in gv.text


async def test_concurrent_decisions_exactly_one_wins(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    import asyncio

    parent = await parent_of_an(app, sms)
    gv1 = await teacher(app, sms, GVCN_6A, "gv-6a-phone")
    gv2 = await teacher(app, sms, GVCN_6A, "gv-6a-laptop")  # same teacher, two chats
    post = Postman(app)
    await send_request(parent)
    cards = await post.deliver()
    assert {c.recipient.user_id for c in cards} == {"gv-6a-phone", "gv-6a-laptop"}
    by_user = {c.recipient.user_id: c for c in cards}
    await asyncio.gather(
        gv1.press_token(by_user["gv-6a-phone"].token("Duyệt")),
        gv2.say("tu choi 1 trung lich kiem tra"),
    )
    outcomes = [gv1.text, gv2.text]
    winners = [t for t in outcomes if "Đã duyệt đơn #1" in t or "Đã từ chối đơn #1" in t]
    losers = [t for t in outcomes if "trước đó" in t]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    notes = [d for d in await post.deliver() if d.recipient.user_id == "me-an"]
    assert len(notes) == 1
    approved = "Đã duyệt" in winners[0]
    assert ("không được" in notes[0].text) is not approved


async def test_reminder_once_then_expiry_under_a_fake_clock(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    parent = await parent_of_an(app, sms)
    await teacher(app, sms, GVCN_6A, "gv-6a")
    post = Postman(app)
    request_id = await send_request(parent)
    await post.deliver()
    clock.advance(hours=3)
    assert await post.tick() == []  # not yet
    clock.advance(hours=2)
    [reminder] = await post.tick()
    assert "Nhắc" in reminder.text and reminder.recipient.user_id == "gv-6a"
    clock.advance(hours=2)
    assert await post.tick() == []  # once only
    clock.advance(days=2, hours=3)  # Wednesday 25/11 after 17:00: the cut-off
    notes = await post.tick()
    assert any(n.recipient.user_id == "me-an" and "hết hạn" in n.text for n in notes)
    await parent.say("đơn đã gửi")
    assert f"#{request_id}" not in parent.text


async def test_backend_write_failure_then_recovery(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    wrappers: list[FailingWrites] = []

    def wrap(backend: SchoolBackend) -> SchoolBackend:
        wrappers.append(FailingWrites(backend))
        return cast(SchoolBackend, wrappers[-1])

    async with demo_app(sqlite_url, tmp_path, clock, sms, backend_wrapper=wrap) as app:
        [qlhs] = wrappers
        parent = await parent_of_an(app, sms)
        gv = await teacher(app, sms, GVCN_6A, "gv-6a")
        post = Postman(app)
        await send_request(parent)
        [card] = await post.deliver()
        qlhs.failing = True
        await gv.press_token(card.token("Duyệt"))
        assert "Đã duyệt đơn #1" in gv.text  # the decision stands; the write is retried
        await parent.say("chuyên cần")
        assert "25/11/2026" not in parent.text
        [row] = await absence_stats(app.sessions, now=clock.now())
        assert (row.pending, row.unwritten, row.last_write_error) == (0, 1, "BackendUnavailable")
        qlhs.failing = False
        clock.advance(minutes=6)
        await post.tick()
        await parent.say("chuyên cần")
        assert "25/11/2026" in parent.text and "có phép" in parent.text
        assert await absence_stats(app.sessions, now=clock.now()) == []


class FailingWrites:
    """The demo backend whose absence writes fail while ``failing`` is set, like a QLHS
    that is down for writes."""

    def __init__(self, inner: SchoolBackend) -> None:
        self._inner = inner
        self.failing = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def record_absence(self, *args: Any, **kwargs: Any) -> None:
        if self.failing:
            raise BackendUnavailable("down")
        await self._inner.record_absence(*args, **kwargs)


async def test_threshold_warning_when_the_year_reaches_30(
    app: App, sms: RecordingOtpSender
) -> None:
    from bot.domain.absence import school_days

    parent = await parent_of_an(app, sms)
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    post = Postman(app)
    backend = app.services.backends.for_school("demo")
    recorded = len(await backend.attendance("st-6a-01"))
    day = dt.date(2026, 9, 7)
    while recorded < 29:
        taken = {r.date for r in await backend.attendance("st-6a-01")}
        if day not in taken and school_days(day, day):
            await backend.record_absence("st-6a-01", day, "day", excused=False, reason="test")
            recorded += 1
        day += dt.timedelta(days=1)
    await send_request(parent)
    [card] = await post.deliver()
    await gv.press_token(card.token("Duyệt"))
    notes = [d.text for d in await post.deliver() if d.recipient.user_id == "me-an"]
    assert any("mốc 30 buổi" in n and "45 buổi" in n for n in notes), notes


async def test_concurrent_approvals_on_both_databases(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    """Two chats of the homeroom teacher approve at the same moment: one wins, once."""
    import asyncio

    async with demo_app(database_url, tmp_path, clock, sms) as app:
        parent = await parent_of_an(app, sms)
        gv1 = await teacher(app, sms, GVCN_6A, "gv-a")
        gv2 = await teacher(app, sms, GVCN_6A, "gv-b")
        post = Postman(app)
        await send_request(parent)
        cards = {c.recipient.user_id: c for c in await post.deliver()}
        await asyncio.gather(
            gv1.press_token(cards["gv-a"].token("Duyệt")),
            gv2.press_token(cards["gv-b"].token("Duyệt")),
        )
        texts = [gv1.text, gv2.text]
        assert sum("Đã duyệt đơn #1" in t for t in texts) == 1, texts
        assert sum("đã được duyệt trước đó" in t for t in texts) == 1, texts
        notes = [d for d in await post.deliver() if d.recipient.user_id == "me-an"]
        assert len(notes) == 1
        records = await app.services.backends.for_school("demo").attendance("st-6a-01")
        assert sum(r.date == dt.date(2026, 11, 25) for r in records) == 1


async def test_escalation_to_the_deputy_who_then_decides(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    from bot.config import AbsenceSettings

    deputy_settings = AbsenceSettings(deputy_code="GV002", deputy_hours=24)
    async with demo_app(sqlite_url, tmp_path, clock, sms, absence=deputy_settings) as app:
        parent = await parent_of_an(app, sms)
        await teacher(app, sms, GVCN_6A, "gv-6a")
        deputy = await teacher(app, sms, "GV002", "hieu-pho")
        post = Postman(app)
        await send_request(parent)  # for Wednesday 25/11
        await post.deliver()
        clock.advance(days=2, hours=8, minutes=5)  # Wed 25/11 17:05: the cut-off has passed
        notes = await post.tick()
        to_deputy = [n for n in notes if n.recipient.user_id == "hieu-pho"]
        assert to_deputy and "chuyển tới" in to_deputy[0].text
        assert any(n.recipient.user_id == "me-an" and "Ban giám hiệu" in n.text for n in notes)
        await deputy.press_token(to_deputy[0].token("Duyệt"))
        assert "Đã duyệt đơn #1" in deputy.text
        clock.advance(days=2)
        assert [n for n in await post.tick() if "hết hạn" in n.text] == []  # decided: no expiry


async def test_substitute_homeroom_teacher_receives_and_decides(
    app: App, sms: RecordingOtpSender
) -> None:
    async with app.uow_factory() as uow:
        await uow.substitutes.add(
            school_id="demo",
            class_id="c-6a",
            teacher_id="t-05",
            start_date=dt.date(2026, 11, 23),
            end_date=dt.date(2026, 11, 27),
            now=app.services.clock.now(),
        )
        await uow.commit()
    parent = await parent_of_an(app, sms)
    sub = await teacher(app, sms, "GV005", "gv-thay")
    post = Postman(app)
    await send_request(parent)
    cards = [c for c in await post.deliver() if c.recipient.user_id == "gv-thay"]
    assert cards and "#1" in cards[0].text
    await sub.say("đơn chờ duyệt")
    assert "#1" in sub.text and "Nguyễn Minh An" in sub.text
    await sub.press("Duyệt #1")
    assert "Đã duyệt đơn #1" in sub.text


async def test_teacher_questions_pending_absent_today_and_pupil_total(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = Chat(app, user="me-huy")
    await parent.link(HUY, sms)
    gv = await teacher(app, sms, GVCN_8A, "gv-8a")
    await gv.say("đơn chờ duyệt")
    assert "Không có đơn" in gv.text
    await send_request(parent, "xin nghỉ 25/11 cả ngày vì ốm")
    await gv.say("/duyet")
    assert "1 đơn đang chờ duyệt" in gv.text and "Phạm Quang Huy" in gv.text
    await gv.say("ai nghỉ 25/11")
    assert "Phạm Quang Huy (8A) — có đơn, chờ duyệt (#1)" in gv.text
    await gv.say("duyet 1")
    await gv.say("ai nghỉ thứ 4")
    assert "Phạm Quang Huy (8A) — có phép" in gv.text
    await gv.say("số buổi nghỉ của Huy")
    assert "Phạm Quang Huy (8A): đã nghỉ" in gv.text and "/45" in gv.text
    await gv.say("xin nghỉ mai")  # a teacher without children asks for leave: politely no
    assert "dành cho phụ huynh" in gv.text


async def test_the_whole_loop_in_english(app: App, sms: RecordingOtpSender) -> None:
    parent = Chat(app, user="mum", locale="en")
    await parent.link(HUY, sms)
    gv = Chat(app, user="gv-8a", locale="en")
    await gv.link(GVCN_8A, sms)
    post = Postman(app)
    await parent.say("/absence")
    assert "Which day" in parent.text
    assert "Tomorrow" not in parent.text  # Tuesday 24/11 is a public holiday: no quick button
    await parent.say("tomorrow")
    assert "public holiday" in parent.text and "Which day" in parent.text
    await parent.say("25/11")
    await parent.press("morning")
    await parent.press("Sick")
    await parent.press("Send request")
    assert "Request #1" in parent.text
    [card] = await post.deliver()
    assert "needs your decision" in card.text
    await gv.press_token(card.token("Reject"))
    await gv.press("Reject without a reason")
    [note] = await post.deliver()
    assert "was not approved" in note.text and "Reason" not in note.text


async def test_a_teacher_who_is_also_a_parent_keeps_both_roles(
    app: App, sms: RecordingOtpSender
) -> None:
    both = Chat(app, user="co-hoa")
    await both.link(GVCN_6A, sms)
    await both.say("thêm con")
    await both.link(HUY, sms)
    await both.say("/menu")
    assert "📝 Xin nghỉ học" in both.buttons() and "📥 Đơn chờ duyệt" in both.buttons()
    parent = await parent_of_an(app, sms)
    post = Postman(app)
    await send_request(parent)  # An is in 6A: the card goes to co-hoa as the homeroom teacher
    [card] = await post.deliver()
    assert card.recipient.user_id == "co-hoa"
    await send_request(both, "xin nghỉ 26/11 cả ngày vì đi khám")  # as Huy's parent
    await both.say("duyet 2")  # Huy is in 8A, not her homeroom class
    assert "không thuộc lớp" in both.text
    await both.press_token(card.token("Duyệt"))
    assert "Đã duyệt đơn #1" in both.text


async def test_each_school_has_its_own_leave_rules(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    from bot.config import AbsenceSettings, SchoolSettings

    strict = SchoolSettings(id="demo", absence=AbsenceSettings(max_days=2))
    async with demo_app(sqlite_url, tmp_path, clock, sms, schools=[strict]) as app:
        parent = await parent_of_an(app, sms)
        await parent.say("xin nghỉ 25/11-27/11 cả ngày vì ốm")
        assert "tối đa 2 ngày" in parent.text


class NoWrites(FailingWrites):
    """A school system that takes no absence writes (OneRoster, a read-only mapping)."""

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self._inner.capabilities - {Capability.ABSENCE_WRITE}

    async def record_absence(self, *args: Any, **kwargs: Any) -> None:
        raise BackendUnsupported("no absence writes")


async def test_a_school_system_without_writes_asks_the_teacher_to_record_it(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    def wrap(backend: SchoolBackend) -> SchoolBackend:
        return cast(SchoolBackend, NoWrites(backend))

    async with demo_app(sqlite_url, tmp_path, clock, sms, backend_wrapper=wrap) as app:
        parent = await parent_of_an(app, sms)
        gv = await teacher(app, sms, GVCN_6A, "gv-6a")
        post = Postman(app)
        await send_request(parent)
        [card] = await post.deliver()
        await gv.press_token(card.token("Duyệt"))
        assert "ghi vào sổ điểm danh giúp" in gv.text
        [row] = await absence_stats(app.sessions, now=clock.now())
        assert (row.unwritten, row.last_write_error) == (1, "BackendUnsupported")
        clock.advance(hours=7)
        await post.tick()  # never retried: nothing to wait for
        [row] = await absence_stats(app.sessions, now=clock.now())
        assert row.unwritten == 1


async def test_pupil_total_matches_the_full_name_first_and_asks_when_ambiguous(
    app: App, sms: RecordingOtpSender
) -> None:
    """Issue 13.9: the teacher of 6A (Đỗ Gia Huy) asks about Phạm Quang Huy (8A)."""
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    await gv.say("số buổi nghỉ của Phạm Quang Huy")
    assert "Đỗ Gia Huy" not in gv.text and "Phạm Quang Huy (8A)" not in gv.text
    assert "gõ tên học sinh" in gv.text
    for question in (
        "số buổi nghỉ của Đỗ Gia Huy",
        "số buổi nghỉ của Huy?",
        "so buoi nghi cua gia huy lop 6a",
    ):
        await gv.say(question)
        assert "Đỗ Gia Huy (6A): đã nghỉ" in gv.text, question


def test_pupils_named_prefers_the_full_name_and_returns_every_namesake() -> None:
    from bot.backends.demo_data import build_demo_school
    from bot.domain.text import fold
    from handlers.absence import pupils_named

    pupils = list(build_demo_school().students)
    named = {p.full_name for p in pupils_named(fold("số buổi nghỉ của Huy"), pupils)}
    assert named == {"Đỗ Gia Huy", "Phạm Quang Huy"}
    full = pupils_named(fold("Phạm Quang Huy nghỉ mấy buổi"), pupils)
    assert [p.full_name for p in full] == ["Phạm Quang Huy"]
    assert pupils_named(fold("số buổi nghỉ của Lê Gia Huy"), pupils) == []


async def test_a_date_no_calendar_has_is_named(app: App, sms: RecordingOtpSender) -> None:
    """Issue 19: "xin nghỉ 30/02" used to get only "I could not read the date"."""
    parent = await parent_of_an(app, sms, user="feb-mum")
    await parent.say("xin nghỉ cho cháu ngày 30/02 vì ốm")
    assert "30/02 không phải là một ngày có thật" in parent.text
    await parent.say("31/11")
    assert "31/11 không phải là một ngày có thật" in parent.text


async def test_in_english_leave_tomorrow_because_sick_starts_a_leave_request(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    """Issue 19: not tomorrow's timetable."""
    clock.advance(days=1)  # Tuesday: tomorrow is a school day
    parent = Chat(app, user="mum-en", locale="en")
    await parent.link(AN, sms, phone_label="Mẹ")
    await parent.say("leave tomorrow because sick")
    assert "Which session?" in parent.text  # the leave request asks only what is missing
    await parent.press("whole day")
    assert "25/11/2026" in parent.text and "sick" in parent.text, parent.text
    assert "Timetable" not in parent.text
    await parent.say("/cancel")
    await parent.say("timetable tomorrow")  # a day with no leave word is still the timetable
    assert "leave" not in parent.text.lower()


async def test_a_teacher_who_is_also_a_parent_is_thay_co_as_a_teacher_and_anh_chi_as_a_parent(
    app: App, sms: RecordingOtpSender
) -> None:
    """Issue 19: one chat, two roles. The turns that act as the teacher (pending requests,
    deciding, a button of another class, the rejection's reason) say "thầy/cô"; the turns
    that act as Huy's parent keep "anh/chị"."""
    both = Chat(app, user="co-hoa")
    await both.link(GVCN_6A, sms)
    await both.say("thêm con")
    await both.link(HUY, sms)
    parent = await parent_of_an(app, sms)
    post = Postman(app)
    await send_request(parent)
    [card] = await post.deliver()
    as_teacher = []
    await both.say("/duyet")
    as_teacher.append(both.text)
    await both.say("tu choi 1")  # no reason typed: asked for one
    as_teacher.append(both.text)
    await both.say("/huy")
    as_teacher.append(both.text)
    await both.say("xin nghỉ 26/11 cả ngày vì đi khám")  # as Huy's parent
    as_parent = [both.text]
    await both.say("Gửi")
    await both.say("duyet 2")  # Huy is in 8A, not her homeroom class
    as_teacher.append(both.text)
    await both.press_token(card.token("Duyệt"))
    as_teacher.append(both.text)
    assert "Đã duyệt đơn #1" in both.text
    for text in as_teacher:
        assert "anh/chị" not in text.lower(), text
    assert any("thầy/cô" in text.lower() for text in as_teacher), as_teacher
    assert "anh/chị" in as_parent[0].lower(), as_parent


# --- a medical certificate with the request (issue 17) --------------------------------------

CERT = Attachment(kind="photo", file_id="cert-photo-1", size=120_000)
PDF = Attachment(
    kind="document", file_id="cert-pdf-1", name="giay.pdf", mime="application/pdf", size=90_000
)


async def send_file(chat: Chat, attachment: Attachment, text: str = "") -> None:
    chat.last = await chat.app.router.handle(
        Incoming(key=chat.key, text=text, attachment=attachment, locale_hint="vi")
    )


async def test_a_photo_in_the_dialog_goes_with_the_request_to_the_teacher(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = await parent_of_an(app, sms)
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    text_only = Chat(app, user="gv-6a-text", channel="memory_text")
    await text_only.link(GVCN_6A, sms)
    post = Postman(app)

    await parent.say("xin nghỉ cho cháu thứ 4 cả ngày")
    assert "Lý do" in parent.text and "giấy khám bệnh" in parent.text  # the hint
    await send_file(parent, CERT)
    assert "Đã đính kèm giấy tờ" in parent.text and "Lý do" in parent.text
    await parent.say("ốm, sốt")
    assert "Giấy tờ kèm theo: 1 ảnh" in parent.text
    await parent.press("Gửi đơn")
    assert "Đã gửi đơn #1" in parent.text and "Giấy tờ kèm theo: 1 ảnh" in parent.text

    delivered = await post.deliver()
    mine = [d for d in delivered if d.recipient.user_id == "gv-6a"]
    card, photo = mine
    assert card.attachment is None and card.token("Duyệt")  # the buttons stay usable
    assert "1 ảnh" in card.text and "ốm, sốt" in card.text
    assert photo.attachment == CERT and "#1 (1/1)" in photo.text
    [typed] = [d for d in delivered if d.recipient.user_id == "gv-6a-text"]
    assert typed.attachment is None and "Phụ huynh có gửi kèm giấy tờ" in typed.text

    await parent.say("đơn đã gửi")
    assert "#1" in parent.text and "📎 1" in parent.text
    await gv.say("đơn chờ duyệt")
    assert "#1" in gv.text and "📎 1" in gv.text
    await gv.press_token(card.token("Duyệt"))
    assert "Đã duyệt đơn #1" in gv.text


async def test_a_caption_asking_for_leave_starts_the_request_with_the_file(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = await parent_of_an(app, sms)
    await teacher(app, sms, GVCN_6A, "gv-6a")
    post = Postman(app)
    await send_file(parent, PDF, "cho cháu nghỉ thứ 4 vì ốm")
    assert "Đã đính kèm giấy tờ" in parent.text and "buổi nào" in parent.text
    await parent.press("cả ngày")
    assert "Giấy tờ kèm theo: 1 tệp" in parent.text and "Lý do: ốm" in parent.text
    await parent.press("Gửi đơn")
    card, pdf = await post.deliver()
    assert pdf.attachment == PDF and card.token("Từ chối")
    # no message to the teacher was opened on the side: only the request
    async with app.sessions() as s:
        from sqlalchemy import func, select

        from storage.tables import MessageThread

        assert await s.scalar(select(func.count()).select_from(MessageThread)) == 0


async def test_wrong_files_a_fourth_and_removal_are_answered_politely(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = await parent_of_an(app, sms)
    await teacher(app, sms, GVCN_6A, "gv-6a")
    post = Postman(app)
    await parent.say("xin nghỉ cho cháu thứ 4 cả ngày vì ốm")
    assert "Gửi đơn" in parent.text

    exe = Attachment(kind="document", file_id="x", name="a.exe", mime="application/x-msdos")
    await send_file(parent, exe)
    assert "chưa được đính kèm" in parent.text and "Giấy tờ kèm theo" not in parent.text
    big = Attachment(kind="document", file_id="y", mime="application/pdf", size=30 << 20)
    await send_file(parent, big)
    assert "lớn quá" in parent.text and "Giấy tờ kèm theo" not in parent.text

    for n in (1, 2, 3):
        await send_file(parent, Attachment(kind="photo", file_id=f"p{n}", size=1000))
        assert f"({n}/3)" in parent.text
    await send_file(parent, Attachment(kind="photo", file_id="p4", size=1000))
    assert "tối đa 3" in parent.text and "Giấy tờ kèm theo: 3 ảnh" in parent.text

    await parent.say("bỏ ảnh")
    assert "Đã bỏ 3 giấy tờ" in parent.text and "Giấy tờ kèm theo" not in parent.text
    await send_file(parent, CERT)
    assert "Giấy tờ kèm theo: 1 ảnh" in parent.text
    await parent.press("Bỏ giấy tờ")
    assert "Đã bỏ 1 giấy tờ" in parent.text and "Gửi đơn" in parent.text
    await send_file(parent, PDF)
    await parent.press("Gửi đơn")
    delivered = await post.deliver()
    assert [d.attachment for d in delivered] == [None, PDF]


async def test_the_teacher_sees_the_files_again_only_for_own_class(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = await parent_of_an(app, sms)
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    other = await teacher(app, sms, GVCN_7A, "gv-7a")
    text_only = Chat(app, user="gv-6a-text", channel="memory_text")
    await text_only.link(GVCN_6A, sms)
    post = Postman(app)
    await parent.say("xin nghỉ cho cháu thứ 4 cả ngày vì ốm")
    await send_file(parent, CERT)
    await send_file(parent, PDF)
    await parent.press("Gửi đơn")
    await post.deliver()

    await gv.say("xem giấy tờ 1")
    assert "gửi lại 2 giấy tờ của đơn #1" in gv.text
    again = await post.deliver()
    assert [(d.recipient.user_id, d.attachment) for d in again] == [
        ("gv-6a", CERT),
        ("gv-6a", PDF),
    ]
    await gv.say("đơn chờ duyệt")
    await gv.press("📎 #1")  # the button in the list, re-checked on the press
    assert [d.attachment for d in await post.deliver()] == [CERT, PDF]

    await other.say("xem giấy tờ 1")
    assert "không thuộc lớp" in other.text
    await text_only.say("xem giay to 1")
    assert "cùng ứng dụng" in text_only.text
    await parent.say("xem giấy tờ 1")  # a parent is no teacher
    assert "dành cho giáo viên" in parent.text
    assert await post.deliver() == []

    request_id = await send_request(parent, "xin nghỉ cho cháu 26/11 cả ngày vì ốm")
    await gv.say(f"xem giấy tờ {request_id}")
    assert "không có giấy tờ" in gv.text


async def test_a_parent_of_two_attaches_to_the_request_of_the_child_chosen(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = await parent_of_an(app, sms)
    await parent.say("thêm con")
    await parent.link(HA, sms, phone_label="Mẹ")
    await teacher(app, sms, GVCN_6A, "gv-6a")
    await teacher(app, sms, GVCN_8A, "gv-8a")
    post = Postman(app)

    await send_file(parent, CERT, "xin nghỉ 25/11 cả ngày vì ốm")
    assert "con nào" in parent.text and "Đã đính kèm" in parent.text
    await parent.press("Nguyễn Thu Hà")
    assert "Nguyễn Thu Hà (8A)" in parent.text and "Giấy tờ kèm theo: 1 ảnh" in parent.text
    await parent.press("Gửi đơn")
    await send_request(parent, "xin cho An nghỉ 25/11 cả ngày vì việc gia đình")
    delivered = await post.deliver()
    to_8a = [d.attachment for d in delivered if d.recipient.user_id == "gv-8a"]
    to_6a = [d.attachment for d in delivered if d.recipient.user_id == "gv-6a"]
    assert to_8a == [None, CERT] and to_6a == [None]


async def test_without_attachments_on_the_channel_nothing_changes(
    app: App, sms: RecordingOtpSender
) -> None:
    parent = Chat(app, user="me-an", channel="memory_text")
    await parent.link(AN, sms, phone_label="Mẹ")
    await parent.say("xin nghỉ cho cháu thứ 4 cả ngày")
    assert "Lý do" in parent.text and "giấy khám bệnh" not in parent.text


async def test_forget_and_retention_drop_the_files_of_a_request(
    app: App, sms: RecordingOtpSender, clock: Any
) -> None:
    from bot.thread_jobs import purge
    from storage.tables import AbsenceRequestRow

    parent = await parent_of_an(app, sms)
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    other = await parent_of_an(app, sms, user="bo-an")
    post = Postman(app)
    await parent.say("xin nghỉ cho cháu thứ 4 cả ngày vì ốm")
    await send_file(parent, CERT)
    await parent.press("Gửi đơn")
    await other.say("xin nghỉ cho cháu 26/11 cả ngày vì ốm")
    await send_file(other, PDF)
    await other.press("Gửi đơn")
    await post.deliver()
    await gv.say("duyet 2")

    async def stored() -> dict[int, str]:
        async with app.sessions() as s:
            from sqlalchemy import select

            rows = await s.execute(select(AbsenceRequestRow.id, AbsenceRequestRow.attachments))
            return {i: a for i, a in rows.all()}

    assert all("cert-" in a for a in (await stored()).values())
    await parent.say("/forget")
    await parent.press("Xóa dữ liệu")
    after = await stored()
    assert after[1] == "" and "cert-pdf-1" in after[2]

    # decided before the school's message retention: the reference goes, the request stays
    await purge(app.sessions, app.services, now=clock.now() + dt.timedelta(days=400))
    assert (await stored())[2] == ""


async def test_the_reminder_and_the_deputys_card_bring_the_files_too(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    from bot.config import AbsenceSettings

    deputy_settings = AbsenceSettings(deputy_code="GV002", deputy_hours=24)
    async with demo_app(sqlite_url, tmp_path, clock, sms, absence=deputy_settings) as app:
        parent = await parent_of_an(app, sms)
        await teacher(app, sms, GVCN_6A, "gv-6a")
        deputy = await teacher(app, sms, "GV002", "hieu-pho")
        post = Postman(app)
        await parent.say("xin nghỉ cho cháu thứ 4 cả ngày vì ốm")
        await send_file(parent, CERT)
        await parent.press("Gửi đơn")
        assert [d.attachment for d in await post.deliver()] == [None, CERT]
        clock.advance(hours=5)
        reminder, photo = await post.tick()
        assert "Nhắc" in reminder.text and "1 ảnh" in reminder.text and reminder.token("Duyệt")
        assert photo.recipient.user_id == "gv-6a" and photo.attachment == CERT
        clock.advance(days=2, hours=3, minutes=5)  # Wed 25/11 17:05: the cut-off has passed
        to_deputy = [n for n in await post.tick() if n.recipient.user_id == "hieu-pho"]
        assert [n.attachment for n in to_deputy] == [None, CERT]
        assert "chuyển tới" in to_deputy[0].text
        await deputy.say("xem giấy tờ 1")  # the deputy may: the request was escalated
        assert "gửi lại 1 giấy tờ" in deputy.text
        await deputy.press_token(to_deputy[0].token("Duyệt"))
        assert "Đã duyệt đơn #1" in deputy.text
