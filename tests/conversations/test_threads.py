"""Private messages between parents and teachers, relayed by the bot (issue 17). The clock
stands on Monday 23/11/2026, 09:00 Hà Nội, inside the default office hours 07:00–17:00."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bot.bootstrap import App
from bot.config import DigestSettings, MessagesSettings
from bot.messages import Attachment, Incoming
from storage.thread_store import export_csv
from tests.chat import Chat, Postman, demo_app
from tests.fakes.outbound import Delivered, RecordingSender
from tests.fakes.ports import FakeClock, RecordingOtpSender

AN = "HS6A01"  # Nguyễn Minh An, 6A; guardians Mẹ 0900000001 and Bố 0900000002
HA = "HS8A02"  # Nguyễn Thu Hà, 8A; also Mẹ's child
HUY = "HS8A03"  # Phạm Quang Huy, 8A
GVCN_6A = "GV001"  # Nguyễn Thị Thanh Hoa, 0900001001
GVCN_8A = "GV007"  # Đỗ Thị Kim Oanh, 0900001007
PHONES = ("0900000001", "0900000002", "0900001001", "0900001007", "+84", "84900")


async def parent(app: App, sms: RecordingOtpSender, user: str = "me-an", **kw: str) -> Chat:
    chat = Chat(app, user=user, **kw)
    await chat.link(AN, sms, phone_label="Mẹ")
    return chat


async def teacher(app: App, sms: RecordingOtpSender, code: str, user: str, **kw: str) -> Chat:
    chat = Chat(app, user=user, **kw)
    await chat.link(code, sms)
    return chat


def no_leak(text: str, *handles: str) -> None:
    for secret in (*PHONES, *handles):
        assert secret not in text, (secret, text)


async def test_parent_message_reaches_the_teacher_and_the_answer_comes_back(
    app: App, sms: RecordingOtpSender
) -> None:
    mother = await parent(app, sms, user="me-an-handle")
    gv = await teacher(app, sms, GVCN_6A, "gv-hoa-handle")
    post = Postman(app)

    await mother.say("nhắn cô chủ nhiệm: mai cháu mang thiếu sách toán ạ")
    assert "Đã chuyển tin nhắn tới Nguyễn Thị Thanh Hoa" in mother.text
    no_leak(mother.text, "gv-hoa-handle")

    [card] = await post.deliver()
    assert card.recipient.user_id == "gv-hoa-handle"
    assert "Mẹ của Nguyễn Minh An (6A)" in card.text
    assert "mai cháu mang thiếu sách toán ạ" in card.text
    assert "nhắn cô chủ nhiệm" not in card.text  # the address is not the message
    no_leak(card.text, "me-an-handle", "Trần Thị Thu Hương")

    await gv.press_token(card.token("Trả lời"))
    assert "gõ câu trả lời" in gv.text
    await gv.say("Cô đã nhận được, cảm ơn chị.")
    assert "Đã gửi câu trả lời" in gv.text

    [answer] = await post.deliver()
    assert answer.recipient.user_id == "me-an-handle"
    assert "Nguyễn Thị Thanh Hoa trả lời về An" in answer.text
    assert "Cô đã nhận được, cảm ơn chị." in answer.text
    no_leak(answer.text, "gv-hoa-handle")

    # the parent writes again from the answer's button: the same thread
    await mother.press_token(answer.token("Nhắn lại"))
    assert "muốn nhắn gì" in mother.text
    await mother.say("Dạ vâng ạ")
    [again] = await post.deliver()
    assert again.recipient.user_id == "gv-hoa-handle" and "Dạ vâng ạ" in again.text
    assert "#1 " in again.text


async def test_text_only_channels_reply_with_a_typed_command(
    app: App, sms: RecordingOtpSender
) -> None:
    mother = await parent(app, sms, user="me-text", channel="memory_text")
    gv = await teacher(app, sms, GVCN_6A, "gv-text", channel="memory_text")
    post = Postman(app)

    await mother.say("/nhantin cháu xin phép về sớm lúc 10 giờ")
    [card] = await post.deliver()
    assert card.recipient.channel == "memory_text" and not card.buttons
    assert "/traloi 1" in card.text and "cháu xin phép về sớm" in card.text

    await gv.say("/traloi 1 Cô biết rồi ạ")
    assert "Đã gửi câu trả lời" in gv.text
    [answer] = await post.deliver()
    assert answer.recipient.user_id == "me-text" and "Cô biết rồi ạ" in answer.text
    assert "nhắn cô chủ nhiệm" in answer.text  # how to write again, typed

    await gv.say("/reply 1")  # no text: asks for it
    assert "gõ câu trả lời" in gv.text
    await gv.say("Thêm: nhớ mang áo khoác.")
    [more] = await post.deliver()
    assert "nhớ mang áo khoác" in more.text


async def test_a_parent_of_two_chooses_the_child_and_the_right_teacher_gets_it(
    app: App, sms: RecordingOtpSender
) -> None:
    mother = await parent(app, sms)
    await mother.say("/lienket")
    await mother.link(HA, sms, phone_label="Mẹ")
    await teacher(app, sms, GVCN_6A, "gv-6a")
    await teacher(app, sms, GVCN_8A, "gv-8a")
    post = Postman(app)

    await mother.say("nhan co chu nhiem: chau hom nay di muon")
    assert "con nào" in mother.text
    await mother.press("Nguyễn Thu Hà")
    assert "Đỗ Thị Kim Oanh" in mother.text
    [card] = await post.deliver()
    assert card.recipient.user_id == "gv-8a" and "Nguyễn Thu Hà (8A)" in card.text


async def test_outside_office_hours_the_message_waits_and_urgent_ones_do_not(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    mother = await parent(app, sms)
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    post = Postman(app)
    await gv.say("/giolamviec 7:30-16:00")
    assert "07:30–16:00" in gv.text

    clock.advance(hours=8)  # 17:00 Hà Nội; Tuesday 24/11 is a public holiday
    await mother.say("nhắn cô: tuần sau họp phụ huynh mấy giờ ạ")
    assert "07:30 25/11/2026" in mother.text and "07:30–16:00" in mother.text
    assert await post.deliver() == []  # held

    await mother.say("nhắn cô chủ nhiệm: cháu bị ốm sốt cao, nhờ cô để ý giúp")
    assert "khẩn" in mother.text
    [urgent] = await post.deliver()
    assert "KHẨN" in urgent.text and "ốm sốt cao" in urgent.text

    clock.advance(hours=14, minutes=30)  # Tuesday 07:30: a holiday, no school
    assert await post.deliver() == []
    clock.advance(hours=24)  # Wednesday 07:30
    [held] = await post.deliver()
    assert "họp phụ huynh" in held.text and held.recipient.user_id == "gv-6a"


async def test_rate_limit_per_parent_and_thread(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    async with demo_app(
        database_url, tmp_path, clock, sms, messages=MessagesSettings(per_hour=3)
    ) as app:
        mother = await parent(app, sms)
        await teacher(app, sms, GVCN_6A, "gv-6a")
        post = Postman(app)
        for n in range(3):
            await mother.say(f"nhắn cô: tin số {n}")
            assert "Đã chuyển" in mother.text
        await mother.say("nhắn cô: tin số 4")
        assert "3 tin trong một giờ" in mother.text and "CHƯA được gửi" in mother.text
        assert len(await post.deliver()) == 3
        clock.advance(hours=1, minutes=1)
        await mother.say("nhắn cô: tin số 5")
        assert "Đã chuyển" in mother.text


async def test_teacher_mutes_a_thread_and_the_school_staff_hear_of_it(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    staff = DigestSettings(school_staff=["GV005"])
    async with demo_app(database_url, tmp_path, clock, sms, digest=staff) as app:
        mother = await parent(app, sms)
        gv = await teacher(app, sms, GVCN_6A, "gv-6a")
        await teacher(app, sms, "GV005", "admin")
        post = Postman(app)
        await mother.say("nhắn cô: tin một")
        [card] = await post.deliver()
        await gv.press_token(card.token("Tạm dừng"))
        assert "Đã tạm dừng" in gv.text
        [note] = await post.deliver()
        assert note.recipient.user_id == "admin" and "Nguyễn Minh An (6A)" in note.text
        assert "Nguyễn Thị Thanh Hoa" in note.text

        await mother.say("nhắn cô: tin hai")
        assert "không nhận tin nhắn" in mother.text and "CHƯA được gửi" in mother.text
        assert await post.deliver() == []

        await gv.say("/mothongbao 1")
        assert "mở lại" in gv.text
        await mother.say("nhắn cô: tin ba")
        assert "Đã chuyển" in mother.text


async def test_a_teacher_cannot_answer_another_class_thread_or_a_forged_id(
    app: App, sms: RecordingOtpSender
) -> None:
    mother = await parent(app, sms)
    await teacher(app, sms, GVCN_6A, "gv-6a")
    other = await teacher(app, sms, GVCN_8A, "gv-8a")
    post = Postman(app)
    await mother.say("nhắn cô: tin riêng")
    await post.deliver()

    for attempt in ("/traloi 1 xin chào", "/reply 999 xin chào", "/mute 1", "/traloi abc"):
        await other.say(attempt)
        assert "Không có cuộc trao đổi" in other.text or "Cách dùng" in other.text, attempt
        assert "tin riêng" not in other.text
    assert await post.deliver() == []

    await mother.say("/traloi 1 tôi là giáo viên")  # a parent is no teacher
    assert "dành cho giáo viên" in mother.text
    assert await post.deliver() == []


async def test_zalo_oa_reply_outside_the_window_is_held_until_the_parent_writes(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    mother = await parent(app, sms, user="oa-mother", channel="zalo_oa")
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    sender = RecordingSender()
    relay = app.build_relay({"memory": sender, "zalo_oa": sender}, worker_id="t")

    async def deliver() -> list[str]:
        before = len(sender.delivered)
        while await relay.run_once():
            pass
        return [d.recipient.user_id for d in sender.delivered[before:]]

    await mother.say("nhắn cô: cháu cần giấy xác nhận")
    assert await deliver() == ["gv-6a"]
    clock.advance(days=8)
    await gv.say("/traloi 1 Cô gửi giấy vào thứ Hai")
    assert "giữ lại" in gv.text and "nhắn tin lần tới" in gv.text
    assert await deliver() == []

    await mother.say("điểm toán")  # any message opens the window again
    assert await deliver() == ["oa-mother"]
    assert "Cô gửi giấy vào thứ Hai" in sender.delivered[-1].text

    clock.advance(days=8)
    await gv.say("/traloi 1 Cô đã nhận giấy")
    assert await deliver() == []
    url = "https://zalo-cdn.example/c.jpg"
    await send_file(mother, Attachment(kind="photo", file_id=url))  # a photo opens it too
    # a relay of its own: the first one sent to this chat a moment ago on the real monotonic
    # clock, and its 1-a-second chat bucket would (rightly) put the answer back for a second
    # of wall time that the fake clock never lets pass
    fresh = app.build_relay({"memory": sender, "zalo_oa": sender}, worker_id="t2")
    while await fresh.run_once():
        pass
    assert sender.delivered[-1].recipient.user_id == "oa-mother"
    assert "Cô đã nhận giấy" in sender.delivered[-1].text


async def test_zalo_oa_reply_outside_the_window_uses_the_school_fallback(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    import dataclasses

    # as if the school's OA had `notification_fallback = "sms"` (bot.bootstrap.thread_policy)
    profile = app.services.profiles["demo"]
    policy = dataclasses.replace(profile.threads, zalo_fallback="sms")
    profiles = {"demo": dataclasses.replace(profile, threads=policy)}
    app.router._services = dataclasses.replace(app.services, profiles=profiles)
    mother = await parent(app, sms, user="oa-mother", channel="zalo_oa")
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    await mother.say("nhắn cô: cháu cần giấy xác nhận")
    clock.advance(days=8)
    await gv.say("/traloi 1 Cô gửi giấy vào thứ Hai")
    assert "SMS" in gv.text and "giữ lại" not in gv.text


async def test_forget_deletes_the_parent_messages_and_export_lists_the_school_threads(
    app: App, sms: RecordingOtpSender
) -> None:
    mother = await parent(app, sms)
    huy = Chat(app, user="huy-parent")
    await huy.link(HUY, sms)
    gv = await teacher(app, sms, GVCN_6A, "gv-6a")
    await teacher(app, sms, GVCN_8A, "gv-8a")
    post = Postman(app)
    await mother.say("nhắn cô: tin của mẹ An")
    await huy.say("nhắn cô: tin của nhà Huy")
    await post.deliver()
    await gv.say("/traloi 1 cô trả lời")

    async with app.sessions() as s:
        rows = list(csv.DictReader(io.StringIO(await export_csv(s, "demo"))))
        only_8a = list(csv.DictReader(io.StringIO(await export_csv(s, "demo", "c-8a"))))
    assert [r["text"] for r in rows] == ["tin của mẹ An", "cô trả lời", "tin của nhà Huy"]
    assert {r["sender"] for r in rows} == {"parent", "teacher"}
    assert all("me-an" not in ",".join(r.values()) for r in rows)
    assert [r["text"] for r in only_8a] == ["tin của nhà Huy"]

    await mother.say("/forget")
    await mother.press("Xóa dữ liệu")
    async with app.sessions() as s:
        rows = list(csv.DictReader(io.StringIO(await export_csv(s, "demo"))))
    assert [r["text"] for r in rows] == ["tin của nhà Huy"]


async def send_file(chat: Chat, attachment: Attachment, text: str = "") -> None:
    chat.last = await chat.app.router.handle(
        Incoming(key=chat.key, text=text, attachment=attachment, locale_hint="vi")
    )


async def test_between_two_zalo_users_the_file_itself_goes_both_ways(
    app: App, sms: RecordingOtpSender
) -> None:
    """Issue 17: a parent and the homeroom teacher both on the school's Zalo OA. The parent's
    PDF and the teacher's photo are passed on by their Zalo URL (the OA sender sends them:
    tests/integration/test_zalo_attachments.py), not as a note that a file exists."""
    mother = await parent(app, sms, user="oa-mother", channel="zalo_oa")
    gv = await teacher(app, sms, GVCN_6A, "oa-gv", channel="zalo_oa")
    sender = RecordingSender()
    relay = app.build_relay({"memory": sender, "zalo_oa": sender}, worker_id="z")

    async def deliver() -> list[Delivered]:
        before = len(sender.delivered)
        while await relay.run_once():
            pass
        return sender.delivered[before:]

    cert = Attachment(
        kind="document",
        file_id="https://zalo-cdn.example/giay.pdf",
        name="giay.pdf",
        mime="application/pdf",
        size=300_000,
    )
    await send_file(mother, cert, "nhắn cô chủ nhiệm: giấy khám bệnh của cháu")
    assert "Đã chuyển" in mother.text and "cùng ứng dụng" not in mother.text
    [card] = await deliver()
    assert card.recipient.user_id == "oa-gv" and card.attachment == cert
    assert "giấy khám bệnh" in card.text and "gửi kèm một ảnh/tệp" not in card.text
    no_leak(card.text, "oa-mother")

    photo = Attachment(kind="photo", file_id="https://zalo-cdn.example/bai-tap.jpg")
    await send_file(gv, photo, "/traloi 1 Cô gửi ảnh bài tập")
    [answer] = await deliver()
    assert answer.recipient.user_id == "oa-mother" and answer.attachment == photo
    assert "Cô gửi ảnh bài tập" in answer.text
    no_leak(answer.text, "oa-gv")


async def test_a_medical_certificate_goes_with_the_message_within_the_limits(
    app: App, sms: RecordingOtpSender
) -> None:
    mother = await parent(app, sms)
    await teacher(app, sms, GVCN_6A, "gv-6a")
    text_only = await teacher(app, sms, GVCN_6A, "gv-6a-zalo", channel="memory_text")
    post = Postman(app)
    cert = Attachment(
        kind="document", file_id="doc-1", name="giay.pdf", mime="application/pdf", size=200_000
    )
    await send_file(mother, cert, "nhắn cô chủ nhiệm: giấy khám bệnh của cháu")
    assert "Đã chuyển" in mother.text and "cùng ứng dụng" in mother.text
    cards = {d.recipient.user_id: d for d in await post.deliver()}
    assert cards["gv-6a"].attachment == cert and "giấy khám bệnh" in cards["gv-6a"].text
    assert cards["gv-6a-zalo"].attachment is None  # another app: told it exists
    assert "gửi kèm một ảnh/tệp" in cards["gv-6a-zalo"].text
    assert text_only.key.channel == "memory_text"

    photo = Attachment(kind="photo", file_id="ph-1", size=80_000)
    await send_file(mother, photo)  # no caption: what goes with it?
    assert "Đã nhận tệp đính kèm" in mother.text
    await mother.say("đơn thuốc của bác sĩ")
    assert "Đã chuyển" in mother.text
    cards = {d.recipient.user_id: d for d in await post.deliver()}
    assert cards["gv-6a"].attachment == photo and "đơn thuốc" in cards["gv-6a"].text

    exe = Attachment(kind="document", file_id="x", name="a.exe", mime="application/x-msdos")
    await send_file(mother, exe, "nhắn cô: xem giúp")
    assert "CHƯA được gửi" in mother.text
    big = Attachment(kind="document", file_id="y", mime="application/pdf", size=30 << 20)
    await send_file(mother, big, "nhắn cô: bản scan")
    assert "lớn quá" in mother.text
    assert await post.deliver() == []

    gv = Chat(app, user="gv-6a")
    await send_file(gv, photo, "ảnh lớp")  # a teacher's photo: not a message to relay
    assert "chữ" in gv.text


async def test_a_teachers_photo_goes_back_with_the_answer_within_the_limits(
    app: App, sms: RecordingOtpSender
) -> None:
    mother = await parent(app, sms, user="me-an-handle")
    gv = await teacher(app, sms, GVCN_6A, "gv-hoa-handle")
    post = Postman(app)
    await mother.say("nhắn cô chủ nhiệm: cháu quên vở bài tập ạ")
    [card] = await post.deliver()

    # a photo with a caption, while answering: the answer, with the photo
    photo = Attachment(kind="photo", file_id="ph-t1", size=90_000)
    await gv.press_token(card.token("Trả lời"))
    await send_file(gv, photo, "Cô gửi ảnh bài tập hôm nay ạ")
    assert "Đã gửi câu trả lời" in gv.text
    [answer] = await post.deliver()
    assert answer.recipient.user_id == "me-an-handle" and answer.attachment == photo
    assert "Cô gửi ảnh bài tập hôm nay ạ" in answer.text
    no_leak(answer.text, "gv-hoa-handle")

    # a document without a caption: kept until the words come
    sheet = Attachment(
        kind="document", file_id="doc-t1", name="de.pdf", mime="application/pdf", size=50_000
    )
    await gv.press_token(card.token("Trả lời"))
    await send_file(gv, sheet)
    assert "Đã nhận ảnh/tệp" in gv.text
    assert await post.deliver() == []
    await gv.say("Đề ôn tập cuối tuần")
    assert "Đã gửi câu trả lời" in gv.text
    [answer] = await post.deliver()
    assert answer.attachment == sheet and "Đề ôn tập cuối tuần" in answer.text

    # the same limits and refusals as the parent's side
    await gv.press_token(card.token("Trả lời"))
    exe = Attachment(kind="document", file_id="x", name="a.exe", mime="application/x-msdos")
    await send_file(gv, exe, "xem giúp")
    assert "CHƯA được gửi" in gv.text
    big = Attachment(kind="document", file_id="y", mime="application/pdf", size=30 << 20)
    await send_file(gv, big, "bản scan")
    assert "lớn quá" in gv.text
    assert await post.deliver() == []
    await gv.say("/huy")


async def test_a_teachers_photo_to_a_parent_on_another_app_becomes_a_note(
    app: App, sms: RecordingOtpSender
) -> None:
    mother = await parent(app, sms, user="me-an-text", channel="memory_text")
    gv = await teacher(app, sms, GVCN_6A, "gv-hoa-handle")
    post = Postman(app)
    await mother.say("nhắn cô chủ nhiệm: cháu quên vở bài tập ạ")
    [card] = await post.deliver()
    await gv.press_token(card.token("Trả lời"))
    await send_file(gv, Attachment(kind="photo", file_id="ph-t2", size=9_000), "Ảnh bài tập")
    assert "Đã gửi câu trả lời" in gv.text and "không tới được phụ huynh" in gv.text
    [answer] = await post.deliver()
    assert answer.recipient.user_id == "me-an-text" and answer.attachment is None
    assert "Ảnh bài tập" in answer.text and "Giáo viên gửi kèm một ảnh/tệp" in answer.text
    no_leak(answer.text, "gv-hoa-handle")


async def test_a_teachers_photo_from_zalo_reaches_a_parent_on_telegram(
    app: App, sms: RecordingOtpSender
) -> None:
    mother = await parent(app, sms, user="me-an-handle")
    gv = await teacher(app, sms, GVCN_6A, "gv-hoa-zalo", channel="memory_text")
    post = Postman(app)
    await mother.say("nhắn cô chủ nhiệm: cháu quên vở bài tập ạ")
    await post.deliver()
    await gv.say("/traloi 1")
    assert "gõ câu trả lời" in gv.text
    photo = Attachment(kind="photo", file_id="https://zalo-cdn.example/b.jpg")
    await send_file(gv, photo, "Ảnh bài tập về nhà")
    assert "Đã gửi câu trả lời" in gv.text and "không tới được" not in gv.text
    [answer] = await post.deliver()
    assert answer.recipient.user_id == "me-an-handle" and answer.attachment == photo
    no_leak(answer.text, "gv-hoa-zalo")

    # on a text-only channel the caption may carry the command itself
    await send_file(gv, photo, "/traloi 1 Ảnh thời khóa biểu mới")
    assert "Đã gửi câu trả lời" in gv.text
    [answer] = await post.deliver()
    assert answer.attachment == photo and "thời khóa biểu mới" in answer.text
    await send_file(gv, photo, "/traloi 1")  # no words yet: kept until they come
    assert "Đã nhận ảnh/tệp" in gv.text
    await gv.say("Lịch thi học kỳ")
    [answer] = await post.deliver()
    assert answer.attachment == photo and "Lịch thi học kỳ" in answer.text
    stranger = await teacher(app, sms, GVCN_8A, "gv-oanh", channel="memory_text")
    await send_file(stranger, photo, "/traloi 1 không phải lớp tôi")  # not her thread
    assert "Đã gửi" not in stranger.text
    assert await post.deliver() == []


async def test_a_photo_from_zalo_is_re_sent_to_a_teacher_on_telegram(
    app: App, sms: RecordingOtpSender
) -> None:
    # the parent on a Zalo-like text channel, the teacher on a Telegram-like one
    mother = await parent(app, sms, user="me-an-zalo", channel="memory_text")
    await teacher(app, sms, GVCN_6A, "gv-hoa-handle")
    post = Postman(app)
    url = "https://zalo-cdn.example/abc.jpg"
    photo = Attachment(kind="photo", file_id=url, mime="image/jpeg")
    await send_file(mother, photo, "nhắn cô chủ nhiệm: đơn thuốc của cháu")
    assert "Đã chuyển" in mother.text and "cùng ứng dụng" not in mother.text
    [card] = await post.deliver()
    assert card.recipient.user_id == "gv-hoa-handle" and card.attachment == photo
    assert "đơn thuốc của cháu" in card.text and "gửi qua Zalo" in card.text
    no_leak(card.text, "me-an-zalo")

    # a file the teacher's app cannot fetch (no public URL): the teacher is told it exists
    sheet = Attachment(kind="document", file_id=url + "?x", mime="image/png", size=10)
    await send_file(mother, sheet, "nhắn cô chủ nhiệm: ảnh chụp màn hình")
    [card] = await post.deliver()
    assert card.attachment is None and "gửi kèm một ảnh/tệp" in card.text
    assert "cùng ứng dụng" in mother.text

    # the same limits as on Telegram
    exe = Attachment(kind="document", file_id=url, name="a.exe", mime="application/octet-stream")
    await send_file(mother, exe, "nhắn cô: xem giúp")
    assert "CHƯA được gửi" in mother.text
    big = Attachment(kind="document", file_id=url, mime="application/pdf", size=11 << 20)
    await send_file(mother, big, "nhắn cô: bản scan")
    assert "lớn quá" in mother.text
    assert await post.deliver() == []


async def test_where_the_school_allows_it_a_subject_teacher_can_be_chosen(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    allowed = MessagesSettings(subject_teachers=True)
    async with demo_app(database_url, tmp_path, clock, sms, messages=allowed) as app:
        mother = await parent(app, sms)
        await teacher(app, sms, GVCN_6A, "gv-6a")
        subject = await teacher(app, sms, "GV003", "gv-nguyet")  # teaches 6A, homeroom of 7A
        post = Postman(app)

        await mother.say("/nhantin")
        assert "thầy cô nào" in mother.text
        assert "Nguyễn Thị Thanh Hoa (chủ nhiệm)" in mother.buttons()
        await mother.press("Lê Thị Minh Nguyệt (bộ môn)")
        assert "muốn nhắn gì cho Lê Thị Minh Nguyệt" in mother.text
        await mother.say("Cô cho cháu xin bài tập tuần trước ạ")
        [card] = await post.deliver()
        assert card.recipient.user_id == "gv-nguyet"
        await subject.say("/traloi 1 Cô gửi lại sau giờ học nhé")
        assert "Đã gửi câu trả lời" in subject.text
        [answer] = await post.deliver()
        assert answer.recipient.user_id == "me-an"

        await mother.say("nhắn cô chủ nhiệm: mai cháu nghỉ tiết thể dục")  # straight to GVCN
        [card] = await post.deliver()
        assert card.recipient.user_id == "gv-6a"


async def test_messages_are_deleted_after_the_school_retention_days(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    from bot.thread_jobs import ThreadJobs

    kept = MessagesSettings(retention_days=30)
    async with demo_app(database_url, tmp_path, clock, sms, messages=kept) as app:
        mother = await parent(app, sms)
        await teacher(app, sms, GVCN_6A, "gv-6a")
        await mother.say("nhắn cô: tin cũ")
        jobs = ThreadJobs(app.sessions, app.services)
        assert await jobs.run_once() == 0  # 0 days old
        clock.advance(days=31)
        await mother.say("nhắn cô: tin mới")
        assert await jobs.run_once() == 1
        assert await jobs.run_once() == 0  # within the hour of the last pass: not again
        async with app.sessions() as s:
            rows = list(csv.DictReader(io.StringIO(await export_csv(s, "demo"))))
        assert [r["text"] for r in rows] == ["tin mới"]
