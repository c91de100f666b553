"""The school office's web page (issue 18, bot/admin) in process: the real app and database,
the real ``/admin`` routes on the webhook server's app, driven with httpx over ASGI."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.admin.web import build_admin
from bot.bootstrap import App
from bot.channels.webhook import Hooks, webhook_app
from bot.config import AdminSettings, DigestSettings
from bot.messages import Attachment, Incoming
from tests.chat import Chat, Postman, demo_app
from tests.fakes.ports import FakeClock, RecordingOtpSender

TEACHER_6A = "GV001"  # homeroom 6A, also teaches 7A; not 8A
BASE = "http://testserver"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sms() -> RecordingOtpSender:
    return RecordingOtpSender()


@pytest.fixture
async def app(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> AsyncIterator[App]:
    async with demo_app(
        database_url,
        tmp_path,
        clock,
        sms,
        admin=AdminSettings(public_url=BASE),
        digest=DigestSettings(school_staff=["GV010"]),
    ) as built:
        yield built


@pytest.fixture
async def web(app: App) -> AsyncIterator[httpx.AsyncClient]:
    server = webhook_app(Hooks(), admin=build_admin(app))
    transport = httpx.ASGITransport(app=server, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


async def bot_link(
    app: App, sms: RecordingOtpSender, code: str = TEACHER_6A, *, linked: bool = False
) -> str:
    teacher = Chat(app, user=f"teacher-{code}")
    if not linked:
        await teacher.link(code, sms)
    await teacher.say("/web")
    found = re.search(r"http://testserver/admin/signin/\S+", teacher.text)
    assert found, teacher.text
    return found.group(0)


async def sign_in(web: httpx.AsyncClient, url: str) -> httpx.Response:
    page = await web.get(url)
    assert page.status_code == 200 and 'name="token"' in page.text
    token = url.rsplit("/", 1)[1]
    return await web.post("/admin/signin", data={"token": token})


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_teacher_signs_in_once_with_the_bot_link_and_sees_only_own_classes(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    url = await bot_link(app, sms)
    signed = await sign_in(web, url)
    assert signed.status_code == 303 and signed.headers["location"] == "/admin/"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/admin" in cookie
    dashboard = await web.get("/admin/")
    assert dashboard.status_code == 200
    assert ">6A<" in dashboard.text and ">7A<" in dashboard.text and ">8A<" not in dashboard.text
    web.cookies.clear()
    again = await web.post("/admin/signin", data={"token": url.rsplit("/", 1)[1]})
    assert again.status_code == 400  # single use


async def test_teacher_gets_403_on_another_class_page(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    await sign_in(web, await bot_link(app, sms))
    assert (await web.get("/admin/class/c-6a")).status_code == 200
    refused = await web.get("/admin/class/c-8a")
    assert refused.status_code == 403
    page = await web.get("/admin/notices")
    assert 'value="class:c-8a"' not in page.text and 'value="school"' not in page.text
    forged = await web.post(
        "/admin/notices",
        data={"csrf": csrf(page), "target": "class:c-8a", "text": "Họp phụ huynh", "urgent": "1"},
    )
    assert forged.status_code == 403


async def test_school_staff_sees_the_whole_school(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    await sign_in(web, await bot_link(app, sms, "GV010"))
    page = await web.get("/admin/")
    assert all(f">{name}<" in page.text for name in ("6A", "7A", "8A", "9A"))
    assert (await web.get("/admin/class/c-8a")).status_code == 200
    assert 'value="school"' in (await web.get("/admin/notices")).text


def dashboard_row(page: httpx.Response, class_id: str) -> list[str]:
    found = re.search(rf'<tr id="class-{class_id}">(.*?)</tr>', page.text, re.S)
    assert found, page.text
    return re.findall(r'<td class="n[^"]*">(\d+)</td>', found.group(1))


async def test_the_dashboard_counts_families_reached_only_by_sms(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    """6A's HS6A07 has a grandmother marked SMS only (the demo data) and the school has an SMS
    provider: "SMS only" until a guardian links a chat. The same count as ``stats``."""
    from bot.backends.local import LocalBackend
    from bot.stats import reachability
    from storage.stats import guardian_chats

    await sign_in(web, await bot_link(app, sms))
    page = await web.get("/admin/")
    assert "Chỉ SMS" in page.text
    pupils, telegram, zalo, _other, by_sms, none, *_ = map(int, dashboard_row(page, "c-6a"))
    assert by_sms == 1 and telegram == zalo == 0 and none == pupils - 1
    everyone = await LocalBackend(app.sessions, "demo").families()
    families = [f for f in everyone if f.student.class_id == "c-6a"]
    reach = reachability(
        "demo", families, await guardian_chats(app.sessions, "demo"), sms_provider=True
    )
    assert reach.sms == by_sms and reach.paper_only == none

    await Chat(app, user="parent-6a07", channel="telegram").link("HS6A07", sms)
    page = await web.get("/admin/")
    pupils, telegram, zalo, _other, by_sms, none, *_ = map(int, dashboard_row(page, "c-6a"))
    assert by_sms == 0 and telegram == 1 and none == pupils - 1  # a chat now: not "SMS only"


async def test_a_form_without_the_csrf_token_changes_nothing(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    await sign_in(web, await bot_link(app, sms))
    sent = await web.post("/admin/notices", data={"target": "class:c-6a", "text": "Nghỉ học"})
    assert sent.status_code == 403
    forged = await web.post(
        "/admin/notices", data={"csrf": "nope", "target": "class:c-6a", "text": "Nghỉ học"}
    )
    assert forged.status_code == 403
    assert "Nghỉ học" not in (await web.get("/admin/notices")).text


async def test_a_session_ends_after_inactivity_and_on_sign_out(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient, clock: FakeClock
) -> None:
    await sign_in(web, await bot_link(app, sms))
    clock.advance(minutes=20)
    page = await web.get("/admin/")
    assert page.status_code == 200  # each request slides the idle timer
    clock.advance(minutes=31)
    expired = await web.get("/admin/")
    assert expired.status_code == 303 and expired.headers["location"] == "/admin/signin"

    await sign_in(web, await bot_link(app, sms, linked=True))
    page = await web.get("/admin/")
    out = await web.post("/admin/signout", data={"csrf": csrf(page)})
    assert out.status_code == 200
    assert (await web.get("/admin/")).status_code == 303


async def test_sign_out_ends_the_session_on_the_server_so_a_copied_cookie_is_refused(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient, clock: FakeClock
) -> None:
    await sign_in(web, await bot_link(app, sms))
    page = await web.get("/admin/")
    copied = web.cookies.get("lienlac_admin", path="/admin")
    assert copied
    out = await web.post("/admin/signout", data={"csrf": csrf(page)})
    assert out.status_code == 200 and "lienlac_admin" not in web.cookies
    web.cookies.set("lienlac_admin", copied, path="/admin")  # the copy, put back
    replay = await web.get("/admin/")
    assert replay.status_code == 303 and replay.headers["location"] == "/admin/signin"
    web.cookies.set("lienlac_admin", copied, path="/admin")
    forged = await web.post("/admin/notices", data={"csrf": csrf(page), "target": "class:c-6a"})
    assert forged.status_code == 303  # to the sign-in page, nothing posted

    # a new sign-in works, and its sign-out forgets the rows whose cookies are idle anyway
    clock.advance(minutes=40)
    web.cookies.clear()
    await sign_in(web, await bot_link(app, sms, linked=True))
    page = await web.get("/admin/")
    assert page.status_code == 200
    await web.post("/admin/signout", data={"csrf": csrf(page)})
    from sqlalchemy import func, select

    from storage.tables import WebSessionEnded

    async with app.sessions() as session:
        left = (await session.execute(select(func.count()).select_from(WebSessionEnded))).scalar()
    assert left == 1  # the first one expired and was cleaned up


async def test_an_expired_link_does_not_sign_in(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient, clock: FakeClock
) -> None:
    url = await bot_link(app, sms)
    clock.advance(minutes=11)
    assert (await sign_in(web, url)).status_code == 400


async def test_failed_sign_ins_are_rate_limited_and_logged_without_the_token(
    web: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(10):
        bad = await web.post("/admin/signin", data={"token": f"guess-{n}-abcdef"})
        assert bad.status_code == 400
    blocked = await web.post("/admin/signin", data={"token": "guess-last-abcdef"})
    assert blocked.status_code == 429
    assert "web sign-in failed from 127.0.0.1" in caplog.text
    assert "guess-" not in caplog.text


async def test_a_notice_from_the_web_reaches_the_parents_and_the_table_shows_it(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    parent = Chat(app, user="parent-6a")
    await parent.link("HS6A01", sms, phone_label="x01")
    await sign_in(web, await bot_link(app, sms))
    page = await web.get("/admin/notices")
    text = "Thứ Sáu 27/11 trường nghỉ học để sửa điện."
    draft = {"csrf": csrf(page), "target": "class:c-6a", "text": text, "urgent": "1"}
    preview = await web.post("/admin/notices/preview", data=draft)
    assert preview.status_code == 200 and text in preview.text and "Nguyễn Văn An" in preview.text
    sent = await web.post("/admin/notices", data=draft)
    assert sent.status_code == 303
    table_url = sent.headers["location"]
    queued = await web.get(table_url)
    assert 'id="count-queued">1<' in queued.text and 'http-equiv="refresh"' in queued.text
    delivered = await Postman(app).deliver()
    assert any(text in d.text for d in delivered)
    done = await web.get(table_url)
    assert 'id="percent">100%<' in done.text and 'id="count-sent">1<' in done.text
    assert 'id="count-none">' in done.text  # the class's families with no chat, by name


async def test_a_notice_is_texted_once_to_the_families_its_chats_did_not_reach(
    app: App,
    sms: RecordingOtpSender,
    web: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlalchemy import select

    from bot.backends.local import LocalBackend
    from storage.tables import OutboxMessage

    parent = Chat(app, user="parent-6a")
    await parent.link("HS6A01", sms, phone_label="x01")
    await sign_in(web, await bot_link(app, sms))
    page = await web.get("/admin/notices")
    text = "Thứ Sáu 27/11 trường nghỉ học để sửa điện."
    draft = {"csrf": csrf(page), "target": "class:c-6a", "text": text, "urgent": "1"}
    table_url = (await web.post("/admin/notices", data=draft)).headers["location"]
    await Postman(app).deliver()
    table = await web.get(table_url)
    assert 'id="send-sms"' in table.text and "Gửi SMS cho các gia đình chưa nhận được" in table.text
    before = len(sms.sent)

    refused = await web.post(f"{table_url}/sms", data={})
    assert refused.status_code == 403  # no CSRF token: nothing queued
    pressed = await web.post(f"{table_url}/sms", data={"csrf": csrf(table)})
    assert pressed.status_code == 303 and pressed.headers["location"] == table_url
    queued = await web.get(table_url)
    assert "SMS đang chờ gửi" in queued.text and 'http-equiv="refresh"' in queued.text

    # who: every guardian with a phone of the 6A pupils not reached, once each; not HS6A01's
    backend = LocalBackend(app.sessions, "demo")
    pupils = [s for s in await backend.class_students("c-6a") if s.code != "HS6A01"]
    phones = {g.phone for p in pupils for g in await backend.guardians(p.id) if g.phone}
    reached = next(s for s in await backend.class_students("c-6a") if s.code == "HS6A01")
    reached_phones = {g.phone for g in await backend.guardians(reached.id)}
    async with app.sessions() as session:
        rows = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notice.sms"))
        ).all()
    assert rows and len(rows) == len({r.chat_id for r in rows})
    assert not any(
        phone in repr(r.payload) + r.chat_id + r.user_id for r in rows for phone in phones
    )

    again = await web.post(f"{table_url}/sms", data={"csrf": csrf(queued)})
    assert again.status_code == 200 and 'id="sms-message"' in again.text
    assert "Không còn gia đình nào cần gửi SMS" in again.text

    await Postman(app).deliver()
    texted = sms.sent[before:]
    assert {m.phone for m in texted} == phones - reached_phones
    assert len(texted) == len(rows)
    assert all(m.text.startswith("Thong bao cua nha truong:") for m in texted)
    assert all("Thu Sau 27/11 truong nghi hoc de sua dien." in m.text for m in texted)
    assert all(m.text.isascii() for m in texted)
    done = await web.get(table_url)
    assert "Đã gửi SMS" in done.text and "SMS đang chờ gửi" not in done.text
    assert not any(phone in caplog.text for phone in phones)

    web.cookies.set("lienlac_lang", "en", path="/admin")
    polite = await web.post(f"{table_url}/sms", data={"csrf": csrf(done)})
    assert "Nobody is left to reach by SMS" in polite.text


async def test_a_blocked_chat_counts_as_not_reached_and_a_teacher_texts_only_own_notices(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    from sqlalchemy import update

    from bot.backends.local import LocalBackend
    from storage.tables import ChatLink

    parent = Chat(app, user="parent-6a")
    await parent.link("HS6A01", sms, phone_label="x01")
    async with app.sessions() as session, session.begin():
        await session.execute(
            update(ChatLink)
            .where(ChatLink.user_id == "parent-6a")
            .values(unreachable_at=app.services.clock.now())
        )
    await sign_in(web, await bot_link(app, sms, "GV010"))
    page = await web.get("/admin/notices")
    draft = {"csrf": csrf(page), "target": "class:c-6a", "text": "Họp phụ huynh", "urgent": "1"}
    url_6a = (await web.post("/admin/notices", data=draft)).headers["location"]
    draft.update(target="class:c-8a", text="Họp phụ huynh lớp 8A")
    url_8a = (await web.post("/admin/notices", data=draft)).headers["location"]
    table = await web.get(url_6a)
    assert 'id="count-blocked">1<' in table.text
    before = len(sms.sent)
    assert (await web.post(f"{url_6a}/sms", data={"csrf": csrf(table)})).status_code == 303
    await Postman(app).deliver()
    backend = LocalBackend(app.sessions, "demo")
    blocked = next(s for s in await backend.class_students("c-6a") if s.code == "HS6A01")
    phones = {g.phone for g in await backend.guardians(blocked.id) if g.phone}
    assert phones <= {m.phone for m in sms.sent[before:]}  # the blocked family is texted too

    web.cookies.clear()  # a teacher of 6A, not of 8A
    await sign_in(web, await bot_link(app, sms))
    mine = await web.get(url_6a)
    assert mine.status_code == 200
    refused = await web.post(f"{url_8a}/sms", data={"csrf": csrf(mine)})
    assert refused.status_code == 403


async def test_no_sms_button_without_an_sms_provider(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:

    from bot.admin import web as admin_web

    await sign_in(web, await bot_link(app, sms))
    page = await web.get("/admin/notices")
    draft = {"csrf": csrf(page), "target": "class:c-6a", "text": "Họp phụ huynh", "urgent": "1"}
    table_url = (await web.post("/admin/notices", data=draft)).headers["location"]
    assert 'id="send-sms"' in (await web.get(table_url)).text
    app.sms_providers.clear()  # the school has no SMS provider: the page says nothing of SMS
    server = webhook_app(Hooks(), admin=admin_web.build_admin(app))
    transport = httpx.ASGITransport(app=server, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE, cookies=web.cookies) as other:
        table = await other.get(table_url)
        assert table.status_code == 200 and 'id="send-sms"' not in table.text
        assert "Chỉ SMS" not in (await other.get("/admin/")).text
        refused = await other.post(f"{table_url}/sms", data={"csrf": csrf(table)})
        assert refused.status_code == 404


async def test_web_in_chat_needs_a_linked_teacher_and_a_configured_address(
    app: App, sms: RecordingOtpSender, sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    stranger = Chat(app, user="someone")
    await stranger.say("/web")
    assert "Chỉ giáo viên" in stranger.text
    parent = Chat(app, user="parent")
    await parent.link("HS6A01", sms, phone_label="x01")
    await parent.say("/web")
    assert "Chỉ giáo viên" in parent.text and "/admin/" not in parent.text
    async with demo_app(sqlite_url, tmp_path, clock, sms) as bare:
        teacher = Chat(bare, user="t")
        await teacher.link(TEACHER_6A, sms)
        await teacher.say("/web")
        assert "LIENLAC_ADMIN__PUBLIC_URL" in teacher.text and "http" not in teacher.text


async def test_the_class_linking_letters_are_one_page_per_family_not_reached(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient, tmp_path: Path
) -> None:
    import io

    from pypdf import PdfReader

    parent = Chat(app, user="parent-6a")
    await parent.link("HS6A01", sms, phone_label="x01")
    await sign_in(web, await bot_link(app, sms))
    page = await web.get("/admin/class/c-6a")
    assert 'id="letters"' in page.text
    pdf = await web.get("/admin/class/c-6a/letters.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert len(reader.pages) == 9  # 10 pupils in 6A, one family linked
    assert "HS6A02" in text and "HS6A01" not in text
    assert re.search(r"09x xxx x\d\d", text) and not re.search(r"09\d{8}", text)  # masked
    assert (await web.get("/admin/class/c-8a/letters.pdf")).status_code == 403


async def test_leave_requests_filter_by_class_and_status_and_export_csv(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    parent = Chat(app, user="parent-6a")
    await parent.link("HS6A01", sms, phone_label="x01")
    await parent.say("xin nghỉ cho cháu thứ 4 cả ngày vì ốm")
    await parent.press("Gửi đơn")
    await parent.say("xin nghỉ cho cháu 26/11 cả ngày vì đi khám")
    photo = Attachment(kind="photo", file_id="secret-file-id", size=1000)
    parent.last = await app.router.handle(Incoming(key=parent.key, attachment=photo))
    await parent.press("Gửi đơn")
    await sign_in(web, await bot_link(app, sms))
    page = await web.get("/admin/leave")
    assert page.status_code == 200 and "Chờ duyệt" in page.text and "ốm" in page.text
    # the parent's medical certificate (issue 17): counted, never linked or shown
    assert page.text.count("📎 1<") == 1 and "secret-file-id" not in page.text
    assert re.search(r"\d+/45<", page.text)  # the year's sessions absent against TT22's 45
    assert "ốm" not in (await web.get("/admin/leave?status=approved")).text
    assert "ốm" in (await web.get("/admin/leave?class=c-6a&status=pending")).text
    assert (await web.get("/admin/leave?class=c-8a")).status_code == 403
    assert (await web.get("/admin/leave?from=not-a-date")).status_code == 400
    exported = await web.get("/admin/leave.csv?class=c-6a")
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.startswith("\ufeffMã đơn,") and "ốm" in exported.text


async def test_consent_and_audit_are_for_school_staff_with_csv(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    parent = Chat(app, user="parent-6a")
    await parent.link("HS6A01", sms, phone_label="x01")
    await sign_in(web, await bot_link(app, sms))
    assert (await web.get("/admin/audit")).status_code == 403
    assert (await web.get("/admin/consent.csv")).status_code == 403
    web.cookies.clear()
    await sign_in(web, await bot_link(app, sms, "GV010"))
    page = await web.get("/admin/audit")
    assert page.status_code == 200 and "2026-11" in page.text and "web.signin" in page.text
    consent = await web.get("/admin/consent.csv")
    assert "2026-11" in consent.text and "guardian" in consent.text and "0900" not in consent.text
    audit = await web.get("/admin/audit.csv")
    assert "web.signin" in audit.text


async def test_the_class_contact_book_downloads_as_a_pdf(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    await sign_in(web, await bot_link(app, sms))
    book = await web.get("/admin/class/c-6a/contact-book.pdf?month=11/2026")
    assert book.status_code == 200 and book.content.startswith(b"%PDF")
    assert (await web.get("/admin/class/c-6a/contact-book.pdf?month=13-x")).status_code == 400
    assert (await web.get("/admin/class/c-8a/contact-book.pdf")).status_code == 403


async def test_import_checks_then_applies_and_shows_row_errors(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    await sign_in(web, await bot_link(app, sms))
    assert (await web.get("/admin/import")).status_code == 403  # a teacher does not import
    web.cookies.clear()
    await sign_in(web, await bot_link(app, sms, "GV010"))
    page = await web.get("/admin/import")
    token = csrf(page)
    bad = "Lớp;Khối\n6B;6\n6C;mười\n".encode("utf-8-sig")
    checked = await web.post(
        "/admin/import", data={"csrf": token}, files={"file": ("lop.csv", bad, "text/csv")}
    )
    assert checked.status_code == 200 and 'id="row-errors"' in checked.text
    assert "lop.csv" in checked.text and 'id="apply"' not in checked.text
    good = "Lớp;Khối\n6B;6\n".encode("utf-8-sig")
    unsigned = await web.post("/admin/import", files={"file": ("lop.csv", good, "text/csv")})
    assert unsigned.status_code == 403  # the upload form has its CSRF token too
    checked = await web.post(
        "/admin/import", data={"csrf": token}, files={"file": ("lop.csv", good, "text/csv")}
    )
    assert 'id="import-ok"' in checked.text and 'id="apply"' in checked.text
    assert ">6B<" not in (await web.get("/admin/")).text  # the check wrote nothing
    ref = re.search(r'name="ref" value="([0-9a-f]{32})"', checked.text)
    assert ref
    applied = await web.post("/admin/import/apply", data={"csrf": token, "ref": ref.group(1)})
    assert applied.status_code == 303  # to a page with a progress bar, until it is done
    for _ in range(100):
        status = await web.get(applied.headers["location"])
        if 'id="import-progress"' not in status.text:
            break
        await asyncio.sleep(0.05)
    assert status.status_code == 200 and "Đã nhập xong" in status.text
    dashboard = (await web.get("/admin/")).text
    assert ">6B<" in dashboard and ">6A<" in dashboard
    again = await web.post("/admin/import/apply", data={"csrf": token, "ref": ref.group(1)})
    assert again.status_code == 404  # applied once


async def test_a_scheduled_notice_waits_for_its_time(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient, clock: FakeClock
) -> None:
    parent = Chat(app, user="parent-6a")
    await parent.link("HS6A01", sms, phone_label="x01")
    await sign_in(web, await bot_link(app, sms))
    token = csrf(await web.get("/admin/notices"))
    text = "Họp phụ huynh lúc 11 giờ."
    draft = {"csrf": token, "target": "class:c-6a", "text": text, "send_at": "2026-11-23T08:00"}
    past = await web.post("/admin/notices/preview", data=draft)  # 08:00 is gone (it is 09:00)
    assert past.status_code == 400 and "Giờ hẹn" in past.text
    draft["send_at"] = "2026-11-23T11:00"
    preview = await web.post("/admin/notices/preview", data=draft)
    assert "23/11/2026 11:00" in preview.text
    sent = await web.post("/admin/notices", data=draft)
    postman = Postman(app)
    assert not [d for d in await postman.deliver() if text in d.text]
    table = await web.get(sent.headers["location"])
    assert 'id="count-queued">1<' in table.text
    clock.advance(hours=2, minutes=1)
    assert [d for d in await postman.deliver() if text in d.text]
    assert (await web.get(sent.headers["location"])).status_code == 303  # idle for 2 hours
    await sign_in(web, await bot_link(app, sms, linked=True))
    assert 'id="count-sent">1<' in (await web.get(sent.headers["location"])).text


async def test_forgetting_in_chat_ends_the_web_session(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    await sign_in(web, await bot_link(app, sms))
    assert (await web.get("/admin/")).status_code == 200
    teacher = Chat(app, user=f"teacher-{TEACHER_6A}")
    await teacher.say("/forget")
    await teacher.press("Xóa")
    assert (await web.get("/admin/")).status_code == 303


async def test_an_operator_looks_at_every_school(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    from bot.config import SchoolSettings
    from tests.chat import add_empty_school

    await add_empty_school(database_url, "other")
    schools = [SchoolSettings(id="demo"), SchoolSettings(id="other")]
    async with demo_app(
        database_url,
        tmp_path,
        clock,
        sms,
        schools=schools,
        admin=AdminSettings(public_url=BASE, operators=["demo:GV002"]),
    ) as built:
        server = webhook_app(Hooks(), admin=build_admin(built))
        transport = httpx.ASGITransport(app=server, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as web:
            await sign_in(web, await bot_link(built, sms, "GV002"))
            page = await web.get("/admin/")
            assert "quản trị hệ thống" in page.text and ">6A<" in page.text
            assert 'value="other"' in page.text
            moved = await web.post("/admin/school", data={"csrf": csrf(page), "school": "other"})
            assert moved.status_code == 303
            other = await web.get("/admin/")
            assert ">6A<" not in other.text and 'value="other" selected' in other.text
            bogus = await web.post("/admin/school", data={"csrf": csrf(page), "school": "nope"})
            assert bogus.status_code == 400


async def test_what_a_teacher_types_is_shown_as_text_not_markup(
    app: App, sms: RecordingOtpSender, web: httpx.AsyncClient
) -> None:
    await sign_in(web, await bot_link(app, sms))
    token = csrf(await web.get("/admin/notices"))
    draft = {"csrf": token, "target": "class:c-6a", "text": "<script>alert(1)</script> Họp"}
    preview = await web.post("/admin/notices/preview", data=draft)
    assert "<script>alert(1)</script>" not in preview.text
    assert "&lt;script&gt;" in preview.text
    assert "script-src" not in preview.headers["content-security-policy"]  # no script at all
