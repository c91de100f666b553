"""Teachers' remarks and homework (issue 17): posted in chat by a teacher of the class,
read by the parent in the digest (or at once, by choice), and looked up later."""

from __future__ import annotations

from sqlalchemy import select

from bot.bootstrap import App, build_scheduler
from storage.tables import NotificationItem, OutboxMessage
from tests.chat import Chat, Postman
from tests.fakes.ports import FakeClock, RecordingOtpSender

AN = "HS6A01"  # Nguyễn Minh An, 6A
HA = "HS8A02"  # Nguyễn Thu Hà, 8A; also Mẹ's child
GV_6A = "GV001"  # homeroom 6A, also teaches 7A
GV_8A = "GV007"  # homeroom 8A


async def test_remark_and_homework_reach_the_parent_and_are_looked_up(
    app: App, sms: RecordingOtpSender, clock: FakeClock
) -> None:
    mum = Chat(app, user="mum")
    await mum.link(AN, sms, phone_label="Mẹ")
    await mum.say("thêm con")
    await mum.link(HA, sms, phone_label="Mẹ")
    gv6 = Chat(app, user="gv-6a")
    await gv6.link(GV_6A, sms)
    gv8 = Chat(app, user="gv-8a", channel="memory_text")
    await gv8.link(GV_8A, sms)

    await gv6.say("nhận xét HS6A01: Con tiến bộ rõ ở môn Toán.")
    assert "Đã ghi nhận xét cho Nguyễn Minh An (6A): 1 phụ huynh" in gv6.text
    await gv6.say("Bài tập 6A: Làm bài 3, 4 trang 25 SGK Toán.")
    assert "Đã ghi bài tập cho lớp 6A: 1 phụ huynh" in gv6.text
    await gv8.say("bai tap 8A: Học thuộc bài thơ Lượm.")
    assert "lớp 8A: 1 phụ huynh" in gv8.text

    # A teacher of another class cannot post on An; a parent cannot post at all
    await gv8.say("nhận xét HS6A01: Nói chuyện trong giờ.")
    assert "không dạy lớp của học sinh này" in gv8.text
    await gv8.say("bài tập 6A: Bài tập giả.")
    assert "không dạy lớp" in gv8.text
    await mum.say("nhận xét HS6A01: Tự khen con.")
    assert "Chỉ giáo viên" in mum.text
    async with app.sessions() as s:
        items = list(await s.scalars(select(NotificationItem)))
        assert list(await s.scalars(select(OutboxMessage))) == []  # waits for the digest
    assert sorted(i.payload["post"] for i in items) == ["homework", "homework", "remark"]

    # Looked up later, each child with their own class's posts
    await mum.say("bài tập hôm nay")
    assert "Làm bài 3, 4 trang 25" in mum.text and "Học thuộc bài thơ Lượm" in mum.text
    assert "Nguyễn Thu Hà (8A)" in mum.text
    await mum.say("nhan xet tuan nay")
    assert "Con tiến bộ rõ ở môn Toán." in mum.text and "Nguyễn Thu Hà" not in mum.text
    clock.advance(days=1)
    await mum.say("bai tap hom nay")
    assert "Chưa có bài tập nào được giao hôm nay" in mum.text
    await mum.say("bài tập tuần này")
    assert "Làm bài 3, 4 trang 25" in mum.text

    # The 19:00 digest carries them
    clock.advance(hours=10, minutes=5)  # Tuesday 19:05 in Hà Nội
    post = Postman(app)
    await build_scheduler(app).run_once()
    [digest] = await post.deliver()
    assert "📝 Nhận xét của giáo viên: Con tiến bộ rõ ở môn Toán." in digest.text
    assert "📚 Bài tập: Làm bài 3, 4 trang 25" in digest.text


async def test_a_parent_who_chose_it_gets_remarks_at_once(
    app: App, sms: RecordingOtpSender
) -> None:
    mum = Chat(app, user="mum")
    await mum.link(AN, sms, phone_label="Mẹ")
    gv6 = Chat(app, user="gv-6a")
    await gv6.link(GV_6A, sms)
    post = Postman(app)

    await mum.say("/caidat")
    await mum.press("Báo ngay nhận xét")
    assert "báo ngay nhận xét, bài tập của giáo viên bật" in mum.text
    await mum.press("Xong")

    await gv6.say("nhận xét HS6A01: Hôm nay con xung phong lên bảng.")
    [alert] = await post.deliver()
    assert alert.recipient.user_id == "mum"
    assert "Nguyễn Minh An" in alert.text and "xung phong lên bảng" in alert.text
    async with app.sessions() as s:
        [row] = list(await s.scalars(select(OutboxMessage)))
    assert not row.urgent  # instant, but never in quiet hours


async def test_remark_and_homework_step_by_step(app: App, sms: RecordingOtpSender) -> None:
    mum = Chat(app, user="mum")
    await mum.link(AN, sms, phone_label="Mẹ")
    gv6 = Chat(app, user="gv-6a", channel="memory_text")
    await gv6.link(GV_6A, sms)

    await gv6.say("/nhanxet")
    assert "mã học sinh" in gv6.text
    await gv6.say("HS8A03")  # a pupil of a class GV001 does not teach
    assert "không dạy lớp của học sinh này" in gv6.text
    await gv6.say("hs6a01")
    assert "Nguyễn Minh An (6A)" in gv6.text
    await gv6.say("Con hăng hái phát biểu.")
    assert "Đã ghi nhận xét cho Nguyễn Minh An (6A): 1 phụ huynh" in gv6.text

    await gv6.say("/baitap")
    assert "cho lớp nào" in gv6.text and "8A" not in gv6.text
    await gv6.press("7A")
    await gv6.say("x" * 501)
    assert "quá giới hạn 500" in gv6.text
    await gv6.say("Đọc trước bài 5.")
    assert "Đã ghi bài tập cho lớp 7A: 0 phụ huynh" in gv6.text

    await mum.say("nhận xét tuần này")
    assert "Con hăng hái phát biểu." in mum.text
    await mum.say("/baitap")  # a parent: the look-up, and 7A's homework is not An's
    assert "Chưa có bài tập nào được giao hôm nay" in mum.text
