"""The school office's web page under ``/admin`` (issue 18), on the one webhook server.

Server-rendered (Jinja2), plain HTML forms, no JavaScript. Sign-in has no password: a linked
teacher sends ``/web`` to the bot (``handlers/web_sign_in.py``) and opens the single-use link
it gets. The link's page asks for one press before it is spent, so a chat app fetching a
preview of the link does not use it up.

Who sees what is decided on **every request** from the roster, never from the cookie:

* a teacher: the classes they teach (homeroom or subject); any other class is 403;
* a school admin (the school's ``school_staff`` codes): the whole school;
* an operator (``LIENLAC_ADMIN__OPERATORS``, ``school:code``): every school served.

Every POST carries the session's CSRF token, and a cross-site ``Origin`` is refused. A
notice posted here goes through :func:`bot.notifications.post_notice`, the chat's own path,
and the outbox.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import datetime as dt
import enum
import hashlib
import io
import logging
import re
import secrets
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot.admin.session import (
    COOKIE,
    FailureLimit,
    Session,
    Signer,
    csrf_ok,
    new_session,
    sid_hash,
)
from bot.domain.attendance import YEAR_LIMIT, sessions_absent
from bot.domain.digest import Content, Item, compose_alert
from bot.domain.models import Guardian, SchoolClass, Student, Teacher
from bot.domain.text import clean
from bot.i18n import LOCALES, normalise_locale
from bot.notifications import notice_sms_dedupe, post_notice, queue_notice_sms
from bot.ports import Capability, FamilyRoster, UnitOfWorkFactory
from bot.stats import family_channels
from bot.turn import CoreServices
from handlers.web_sign_in import token_hash
from storage.admin_queries import (
    AdminQueries,
    AuditRow,
    GuardianChat,
    NoticeRow,
    audit_events,
    consents,
    leave_requests,
)
from storage.web_sessions import WebSessions

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bot.bootstrap import App
    from bot.config import AdminSettings

log = logging.getLogger(__name__)

PREFIX = "/admin"
LANG_COOKIE = "lienlac_lang"
MAX_FORM = 64 * 1024  # bytes of a posted form
MAX_UPLOAD = 20 * 1024 * 1024  # bytes of an uploaded workbook
MAX_NOTICE = 500  # as in the chat (dialogs/notice.py)
MAX_SCHEDULE = dt.timedelta(days=60)  # how far ahead a notice may be scheduled
LIVE_FOR = dt.timedelta(hours=1)  # a delivery table refreshes itself this long at most
TEMPLATES = Path(__file__).with_name("templates")

CHANNEL_GROUPS = {"telegram": "telegram", "zalo_bot": "zalo", "zalo_oa": "zalo"}


class Role(enum.StrEnum):
    TEACHER = "teacher"  # their own classes
    ADMIN = "admin"  # the whole school (its school_staff)
    OPERATOR = "operator"  # every school


class Denied(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(slots=True, kw_only=True)
class Viewer:
    session: Session
    teacher: Teacher
    role: Role
    school_id: str  # the school being looked at
    classes: list[SchoolClass]  # the classes this viewer may see there, by name
    schools: Sequence[str] = ()  # an operator's choice of schools

    def class_(self, class_id: str) -> SchoolClass:
        """The class if this viewer may see it, else 403 (a teacher's other classes too)."""
        found = next((c for c in self.classes if c.id == class_id), None)
        if found is None:
            raise Denied(403)
        return found


@dataclass(slots=True, kw_only=True)
class ImportJob:
    """An import being applied; its page refreshes itself until ``outcome`` is set."""

    owner: tuple[str, str]  # (school, teacher) who may follow it
    done: int = 0  # rows written so far
    total: int = 0
    outcome: dict[str, Any] | None = None
    task: asyncio.Task[None] | None = None  # held so it is not collected mid-way


@dataclass(slots=True, kw_only=True)
class AdminDeps:
    services: CoreServices
    uow_factory: UnitOfWorkFactory
    queries: AdminQueries
    web_sessions: WebSessions  # the signed-out ones
    sessions: async_sessionmaker[AsyncSession]
    settings: AdminSettings
    schools: Sequence[str]
    uploads: Path  # imports waiting between the check and the apply
    local_schools: frozenset[str] = frozenset()  # schools whose data is imported here
    sms_schools: frozenset[str] = frozenset()  # schools with an SMS provider (the SMS digest's)
    sms_max_segments: int = 2  # of a notice texted to those not reached
    wake: Callable[[], None] = lambda: None
    failures: FailureLimit = field(default_factory=FailureLimit)


LEAVE_STATUSES = ("pending", "approved", "rejected", "cancelled", "expired")
LEAVE_COLUMNS = (
    "id",
    "class",
    "pupil",
    "start",
    "end",
    "session",
    "status",
    "reason",
    "created",
    "absent",
)
MAX_COUNTED = 200  # pupils whose year's absences a leave page counts
CONSENT_COLUMNS = (
    "name",
    "class",
    "role",
    "channel",
    "version",
    "consent_at",
    "verified_at",
    "active",
)
AUDIT_COLUMNS = ("at", "actor", "action", "subject")


def parse_multipart(ctype: str, body: bytes) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    """A ``multipart/form-data`` body: its text fields, and its first file (name, bytes)."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"MIME-Version: 1.0\r\nContent-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    upload: tuple[str, bytes] | None = None
    if not message.is_multipart():
        return fields, None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            if upload is None:
                upload = (filename, data)
        elif isinstance(name, str):
            fields[name] = data.decode("utf-8", "replace")
    return fields, upload


def store_upload(folder: Path, filename: str, data: bytes, owner: str) -> None:
    """Keep an uploaded workbook between the check and the apply, with who may apply it."""
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]+", "_", Path(filename).name)[-80:] or "upload.xlsx"
    safe = "upload-" + safe if safe == "owner" else safe
    (folder / safe).write_bytes(data)
    (folder / "owner").write_text(owner)


def owner_of(folder: Path) -> list[str] | None:
    try:
        return (folder / "owner").read_text().split()
    except OSError:
        return None


def when_iso(at: dt.datetime | None) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds") if at else ""


def csv_response(filename: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> Response:
    """UTF-8 with a byte-order mark, so Excel opens the Vietnamese correctly. A cell that
    starts like a formula is quoted with ``'`` (CSV injection)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in (head, *rows):
        writer.writerow(["'" + c if c[:1] in ("=", "+", "-", "@") else c for c in row])
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def build_admin(app: App) -> Starlette:
    """The ``/admin`` app for ``app``; a notice posted here wakes ``app``'s relay."""

    def wake() -> None:
        for hook in app.router.after_commit:
            hook()

    return admin_app(
        AdminDeps(
            services=app.services,
            uow_factory=app.uow_factory,
            queries=AdminQueries(app.sessions),
            web_sessions=WebSessions(app.sessions),
            sessions=app.sessions,
            settings=app.settings.admin,
            schools=[s.id for s in app.settings.school_configs()],
            uploads=app.settings.data_dir / "uploads",
            local_schools=frozenset(
                s.id for s in app.settings.school_configs() if s.backend.kind == "local"
            ),
            sms_schools=frozenset(app.sms_providers),
            sms_max_segments=app.settings.digest.sms_max_segments,
            wake=wake,
        )
    )


def admin_app(deps: AdminDeps) -> Starlette:
    services = deps.services
    signer = Signer(services.secret)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    idle = dt.timedelta(minutes=deps.settings.session_minutes)
    catalog = services.catalog

    def now() -> dt.datetime:
        return services.clock.now()

    def locale_of(request: Request) -> str:
        return normalise_locale(request.cookies.get(LANG_COOKIE) or "vi")

    def secure(request: Request) -> bool:
        return request.url.scheme == "https" or (services.web_url or "").startswith("https:")

    def actor(school_id: str, teacher_id: str) -> str:
        raw = f"web|{school_id}|{teacher_id}".encode()
        return hashlib.blake2s(raw, key=services.secret[:32], digest_size=12).hexdigest()

    def harden(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "same-origin"  # the sign-in URL never leaves
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        return response

    def set_session(response: Response, request: Request, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            signer.dump(session),
            max_age=int(idle.total_seconds()),
            path=PREFIX,
            httponly=True,
            samesite="lax",
            secure=secure(request),
        )

    def render(
        request: Request,
        name: str,
        viewer: Viewer | None = None,
        status: int = 200,
        **context: Any,
    ) -> Response:
        locale = locale_of(request)

        def t(key: str, **values: object) -> str:
            return catalog.t(locale, key, **values)

        tz = services.for_school(viewer.school_id if viewer else "").tz

        def when(at: dt.datetime) -> str:
            """dd/mm/yyyy HH:MM in the school's own time zone."""
            return at.astimezone(tz).strftime("%d/%m/%Y %H:%M")

        response = templates.TemplateResponse(
            request,
            name,
            {
                "t": t,
                "when": when,
                "viewer": viewer,
                "csrf": viewer.session.csrf if viewer else "",
                "prefix": PREFIX,
                "locale": locale,
                "locales": LOCALES,
                # an import report line (bot.backends.spreadsheet.Said) in the page's language
                "said": lambda line: line.render(locale) if hasattr(line, "render") else line,
                **context,
            },
            status_code=status,
        )
        return harden(response)

    async def form(request: Request, limit: int = MAX_FORM) -> dict[str, str]:
        """The posted fields; an uploaded file goes to ``request.state.upload`` as
        (file name, bytes). Nothing larger than ``limit`` is read."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise Denied(413)
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        fields, upload = parse_multipart(ctype, bytes(body))
        request.state.upload = upload
        return fields

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        if not origin or origin == "null":
            return origin is None
        return urlsplit(origin).netloc == request.headers.get("host", "")

    async def resolve(request: Request) -> Viewer:
        raw = request.cookies.get(COOKIE)
        session = signer.load(raw, now=now(), idle=idle) if raw else None
        if session is None or await deps.web_sessions.ended(sid_hash(session.sid)):
            raise Denied(401)
        backend = services.backends.for_school(session.school_id)
        teacher = next((t for t in await backend.teachers() if t.id == session.teacher_id), None)
        if teacher is None:  # no longer on the school's roster
            raise Denied(401)
        if not await deps.queries.staff_linked(session.school_id, teacher.id):
            raise Denied(401)  # unlinked in chat (/forget): the web session ends with it
        code = teacher.code.strip().upper()
        operators = {o.strip().upper() for o in deps.settings.operators}
        staff = services.for_school(session.school_id).school_staff
        if f"{session.school_id}:{code}".upper() in operators:
            role = Role.OPERATOR
        elif code in {s.strip().upper() for s in staff}:
            role = Role.ADMIN
        else:
            role = Role.TEACHER
        school_id = session.school_id
        if role is Role.OPERATOR and session.viewing in deps.schools:
            school_id = session.viewing
        classes = sorted(
            await services.backends.for_school(school_id).classes(),
            key=lambda c: (c.grade, c.name),
        )
        if role is Role.TEACHER:
            own = set(teacher.homeroom_class_ids) | set(teacher.subject_class_ids)
            classes = [c for c in classes if c.id in own]
        return Viewer(
            session=session,
            teacher=teacher,
            role=role,
            school_id=school_id,
            classes=classes,
            schools=deps.schools if role is Role.OPERATOR else (),
        )

    Page = Callable[[Request, Viewer], Awaitable[Response]]

    def page(
        handler: Page, *, post: bool = False, limit: int = MAX_FORM
    ) -> Callable[[Request], Awaitable[Response]]:
        """Every signed-in page: resolve the viewer (401: to the sign-in help), check the
        CSRF token on a POST, answer, and slide the session's idle timer."""

        async def endpoint(request: Request) -> Response:
            try:
                viewer = await resolve(request)
                if post:
                    if not same_origin(request):
                        raise Denied(403)
                    request.state.form = await form(request, limit)
                    if not csrf_ok(viewer.session, request.state.form.get("csrf", "")):
                        log.warning("web page: a form without a valid CSRF token was refused")
                        raise Denied(403)
                response = await handler(request, viewer)
            except Denied as denied:
                if denied.status == 401:
                    gone = RedirectResponse(f"{PREFIX}/signin", status_code=303)
                    gone.delete_cookie(COOKIE, path=PREFIX)
                    return harden(gone)
                return render(request, "error.html", None, status=denied.status, code=denied.status)
            if getattr(request.state, "signed_out", False):
                response.delete_cookie(COOKIE, path=PREFIX)
                return response
            set_session(response, request, dataclasses.replace(viewer.session, seen=now()))
            return response

        return endpoint

    # --- signing in and out ---------------------------------------------------------------

    async def sign_in_help(request: Request) -> Response:
        return render(request, "signin_help.html")

    async def sign_in_confirm(request: Request) -> Response:
        # one press before the link is spent: a link preview (a GET) must not use it up
        return render(request, "signin.html", token=request.path_params["token"])

    async def sign_in(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        at = now()
        if deps.failures.blocked(client, at):
            log.warning("web sign-in refused: too many failed attempts from %s", client)
            return render(request, "signin_help.html", status=429, failed="too_many")
        if not same_origin(request):
            return render(request, "error.html", status=403, code=403)
        try:
            token = (await form(request)).get("token", "")
        except Denied:
            token = ""
        grant = None
        if token:
            async with deps.uow_factory() as uow:
                grant = await uow.web_sign_ins.redeem(token_hash(token), now=at)
                if grant is not None:
                    await uow.audit.record(
                        school_id=grant.school_id,
                        actor=actor(grant.school_id, grant.teacher_id),
                        action="web.signin",
                        subject=grant.teacher_id,
                        at=at,
                    )
                await uow.commit()
        if grant is None:
            count = deps.failures.fail(client, at)
            log.warning("web sign-in failed from %s (%d in the window)", client, count)
            return render(request, "signin_help.html", status=400, failed="invalid")
        log.info("web sign-in: teacher %s of school %s", grant.teacher_id, grant.school_id)
        response = harden(RedirectResponse(f"{PREFIX}/", status_code=303))
        set_session(response, request, new_session(grant.school_id, grant.teacher_id, at))
        return response

    async def sign_out(request: Request, viewer: Viewer) -> Response:
        request.state.signed_out = True  # page() deletes the cookie instead of sliding it
        # ended on the server too: a copy of the cookie is refused from now on; the row is
        # kept until the cookie would have gone idle anyway (plus the clock skew allowed)
        at = now()
        await deps.web_sessions.end(
            sid_hash(viewer.session.sid), now=at, until=at + idle + dt.timedelta(minutes=5)
        )
        log.info("web sign-out: teacher %s of school %s", viewer.teacher.id, viewer.school_id)
        return render(request, "signin_help.html", signed_out=True)

    async def language(request: Request) -> Response:
        code = request.path_params["code"]
        response = harden(RedirectResponse(f"{PREFIX}/", status_code=303))
        if code in LOCALES:
            response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, path=PREFIX, samesite="lax")
        return response

    async def choose_school(request: Request, viewer: Viewer) -> Response:
        if viewer.role is not Role.OPERATOR:
            raise Denied(403)
        wanted = request.state.form.get("school", "")
        if wanted not in deps.schools:
            raise Denied(400)
        viewer.session = dataclasses.replace(viewer.session, viewing=wanted)
        return harden(RedirectResponse(f"{PREFIX}/", status_code=303))

    # --- the dashboard and a class ----------------------------------------------------------

    async def roster(viewer: Viewer, classes: Sequence[SchoolClass]) -> dict[str, list[Student]]:
        backend = services.backends.for_school(viewer.school_id)
        return {c.id: list(await backend.class_students(c.id)) for c in classes}

    def reached(chats: Sequence[GuardianChat]) -> bool:
        return any(not chat.unreachable for chat in chats)

    async def sms_guardians(school_id: str) -> dict[str, list[Guardian]]:
        """Per pupil, their guardians marked SMS only with a phone (none without a provider)."""
        backend = services.backends.for_school(school_id)
        if school_id not in deps.sms_schools or not isinstance(backend, FamilyRoster):
            return {}
        out: dict[str, list[Guardian]] = {}
        for guardian, student_ids in await backend.sms_only_guardians():
            for student_id in student_ids:
                out.setdefault(student_id, []).append(guardian)
        return out

    async def dashboard(request: Request, viewer: Viewer) -> Response:
        chats = await deps.queries.guardian_chats(viewer.school_id)
        pupils = await roster(viewer, viewer.classes)
        by_sms = await sms_guardians(viewer.school_id)
        sms_provider = viewer.school_id in deps.sms_schools
        pending = await deps.queries.pending_absences(viewer.school_id)
        today = now().astimezone(services.for_school(viewer.school_id).tz).date()
        absent = await deps.queries.absent_on(viewer.school_id, today)
        rows = []
        for c in viewer.classes:
            counts = {"telegram": 0, "zalo": 0, "other": 0, "sms": 0, "none": 0}
            for student in pupils[c.id]:
                live = {chat.channel for chat in chats.get(student.id, []) if not chat.unreachable}
                groups = family_channels(
                    live, by_sms.get(student.id, ()), sms_provider=sms_provider
                )
                chat_groups = groups - {"sms"}  # "SMS only": reached by no chat, but by SMS
                for group in chat_groups or (groups or {"none"}):
                    counts[group] += 1
            rows.append(
                {
                    "cls": c,
                    "pupils": len(pupils[c.id]),
                    **counts,
                    "pending": pending.get(c.id, 0),
                    "absent": absent.get(c.id, 0),
                }
            )
        failed = (
            await deps.queries.failed_messages(viewer.school_id)
            if viewer.role is not Role.TEACHER
            else []
        )
        return render(
            request,
            "dashboard.html",
            viewer,
            rows=rows,
            failed=failed,
            today=today,
            sms_provider=sms_provider,
        )

    async def class_page(request: Request, viewer: Viewer) -> Response:
        cls = viewer.class_(request.path_params["class_id"])
        backend = services.backends.for_school(viewer.school_id)
        chats = await deps.queries.guardian_chats(viewer.school_id)
        pupils = []
        for student in await backend.class_students(cls.id):
            mine = chats.get(student.id, [])
            guardians = await backend.guardians(student.id)
            pupils.append(
                {
                    "student": student,
                    "channels": sorted({CHANNEL_GROUPS.get(c.channel, "other") for c in mine}),
                    "blocked": any(c.unreachable for c in mine),
                    "reached": reached(mine),
                    "guardians": ", ".join(f"{g.relation} {g.name}".strip() for g in guardians),
                }
            )
        async with deps.uow_factory() as uow:  # who looked at which class (issue 18)
            await uow.audit.record(
                school_id=viewer.school_id,
                actor=actor(viewer.session.school_id, viewer.teacher.id),
                action="web.view_class",
                subject=cls.id,
                at=now(),
            )
            await uow.commit()
        missing = [p for p in pupils if not p["reached"]]
        return render(request, "class.html", viewer, cls=cls, pupils=pupils, missing=missing)

    async def letters(request: Request, viewer: Viewer) -> Response:
        """The class's linking letters: one page per family not reached (a PDF)."""
        from bot.linking_letter import Family, render

        cls = viewer.class_(request.path_params["class_id"])
        backend = services.backends.for_school(viewer.school_id)
        chats = await deps.queries.guardian_chats(viewer.school_id)
        families = [
            Family(student=student, guardians=list(await backend.guardians(student.id)))
            for student in await backend.class_students(cls.id)
            if not reached(chats.get(student.id, []))
        ]
        info = await backend.school_info()
        pdf = render(
            families,
            school_name=info.name,
            contact=services.for_school(viewer.school_id).contact,
            catalog=catalog,
            locale=locale_of(request),
        )
        async with deps.uow_factory() as uow:
            await uow.audit.record(
                school_id=viewer.school_id,
                actor=actor(viewer.session.school_id, viewer.teacher.id),
                action="web.linking_letters",
                subject=cls.id,
                detail={"families": len(families)},
                at=now(),
            )
            await uow.commit()
        name = f"thu-moi-lien-ket-{cls.name}.pdf".replace(" ", "")
        return harden(
            Response(
                pdf,
                media_type="application/pdf",
                headers={"Content-Disposition": f'inline; filename="{name}"'},
            )
        )

    async def contact_book(request: Request, viewer: Viewer) -> Response:
        """The class's printed contact book for a month (bot.contact_book), as the chat's."""
        from bot.contact_book import gather, parse_month
        from bot.contact_book import render as render_book

        cls = viewer.class_(request.path_params["class_id"])
        local = now().astimezone(services.for_school(viewer.school_id).tz)
        month = parse_month(request.query_params.get("month", "") or f"{local:%m/%Y}")
        if month is None:
            raise Denied(400)
        backend = services.backends.for_school(viewer.school_id)
        pdf = render_book(
            await gather(backend, [cls.id], month),
            school=await backend.school_info(),
            month=month,
            catalog=catalog,
            locale=locale_of(request),
            bank=services.for_school(viewer.school_id).bank,
        )
        await record(viewer, "web.contact_book", cls.id, month=month.label())
        name = f"so-lien-lac-{cls.name}-{month.month:02d}-{month.year}.pdf".replace(" ", "")
        return harden(
            Response(
                pdf,
                media_type="application/pdf",
                headers={"Content-Disposition": f'inline; filename="{name}"'},
            )
        )

    async def record(viewer: Viewer, action: str, subject: str, **detail: object) -> None:
        async with deps.uow_factory() as uow:
            await uow.audit.record(
                school_id=viewer.school_id,
                actor=actor(viewer.session.school_id, viewer.teacher.id),
                action=action,
                subject=subject,
                detail=dict(detail),
                at=now(),
            )
            await uow.commit()

    # --- leave requests, consent and audit ----------------------------------------------------

    def day_param(request: Request, name: str) -> dt.date | None:
        raw = request.query_params.get(name, "").strip()
        if not raw:
            return None
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise Denied(400) from None

    async def leave_rows(
        request: Request, viewer: Viewer
    ) -> tuple[dict[str, str], list[dict[str, Any]]]:
        wanted = request.query_params.get("class", "")
        class_ids = [viewer.class_(wanted).id] if wanted else [c.id for c in viewer.classes]
        status = request.query_params.get("status", "")
        if status and status not in LEAVE_STATUSES:
            raise Denied(400)
        start, end = day_param(request, "from"), day_param(request, "to")
        found = (
            await leave_requests(
                deps.sessions,
                viewer.school_id,
                class_ids=class_ids,
                status=status,
                start=start,
                end=end,
            )
            if class_ids
            else []
        )
        backend = services.backends.for_school(viewer.school_id)
        names: dict[str, Student] = {}
        for class_id in {r.class_id for r in found}:
            for student in await backend.class_students(class_id):
                names[student.id] = student
        absent: dict[str, int] = {}  # the year's sessions absent, against the 45 of TT22
        if Capability.ATTENDANCE in backend.capabilities:
            for student_id in list(dict.fromkeys(r.student_id for r in found))[:MAX_COUNTED]:
                absent[student_id] = sessions_absent(await backend.attendance(student_id))
        rows = [
            {
                "id": r.id,
                "absent": absent.get(r.student_id),
                "cls": names[r.student_id].class_name if r.student_id in names else "",
                "name": names[r.student_id].full_name if r.student_id in names else "?",
                "start": r.start_date,
                "end": r.end_date,
                "session": r.session,
                "reason": r.reason,
                "status": r.status,
                "created": r.created_at,
                "files": r.files,
            }
            for r in found
        ]
        filters = {
            "class": wanted,
            "status": status,
            "from": start.isoformat() if start else "",
            "to": end.isoformat() if end else "",
        }
        return filters, rows

    async def leave_page(request: Request, viewer: Viewer) -> Response:
        filters, rows = await leave_rows(request, viewer)
        query = urlencode({k: v for k, v in filters.items() if v})
        return render(
            request,
            "leave.html",
            viewer,
            rows=rows,
            filters=filters,
            statuses=LEAVE_STATUSES,
            limit=YEAR_LIMIT,
            csv_url=f"{PREFIX}/leave.csv" + (f"?{query}" if query else ""),
        )

    async def leave_csv(request: Request, viewer: Viewer) -> Response:
        _, rows = await leave_rows(request, viewer)
        locale = locale_of(request)
        head = [catalog.t(locale, f"admin.csv_leave_{c}") for c in LEAVE_COLUMNS]
        body = [
            [
                str(r["id"]),
                r["cls"],
                r["name"],
                r["start"].isoformat(),
                r["end"].isoformat(),
                r["session"],
                r["status"],
                r["reason"],
                when_iso(r["created"]),
            ]
            for r in rows
        ]
        await record(viewer, "web.export_leave", "", rows=len(rows))
        return csv_response("don-xin-nghi.csv", head, body)

    async def audit_data(viewer: Viewer) -> tuple[list[dict[str, Any]], list[AuditRow]]:
        if viewer.role is Role.TEACHER:
            raise Denied(403)
        backend = services.backends.for_school(viewer.school_id)
        students: dict[str, Student] = {}
        for c in viewer.classes:
            for student in await backend.class_students(c.id):
                students[student.id] = student
        teachers = {t.id: t for t in await backend.teachers()}
        rows = []
        for r in await consents(deps.sessions, viewer.school_id):
            if r.role == "guardian":
                who = students.get(r.subject_id)
                name, cls = (who.full_name, who.class_name) if who else ("?", "")
            else:
                teacher = teachers.get(r.subject_id)
                name, cls = (teacher.full_name if teacher else "?"), ""
            rows.append({"row": r, "name": name, "cls": cls})
        return rows, await audit_events(deps.sessions, viewer.school_id)

    async def audit_page(request: Request, viewer: Viewer) -> Response:
        rows, events = await audit_data(viewer)
        return render(request, "audit.html", viewer, consents=rows, events=events)

    async def consent_csv(request: Request, viewer: Viewer) -> Response:
        rows, _ = await audit_data(viewer)
        locale = locale_of(request)
        head = [catalog.t(locale, f"admin.csv_consent_{c}") for c in CONSENT_COLUMNS]
        body = [
            [
                r["name"],
                r["cls"],
                r["row"].role,
                r["row"].channel,
                r["row"].consent_version,
                when_iso(r["row"].consent_at),
                when_iso(r["row"].verified_at),
                "1" if r["row"].active else "0",
            ]
            for r in rows
        ]
        await record(viewer, "web.export_consent", "", rows=len(body))
        return csv_response("dong-y-du-lieu.csv", head, body)

    async def audit_csv(request: Request, viewer: Viewer) -> Response:
        _, events = await audit_data(viewer)
        locale = locale_of(request)
        head = [catalog.t(locale, f"admin.csv_audit_{c}") for c in AUDIT_COLUMNS]
        body = [[when_iso(e.at), e.actor, e.action, e.subject] for e in events]
        return csv_response("nhat-ky.csv", head, body)

    # --- import ---------------------------------------------------------------------------------

    imports: dict[str, ImportJob] = {}  # applying, by upload ref (this process only)

    def importer(viewer: Viewer) -> None:
        if viewer.role is Role.TEACHER:
            raise Denied(403)
        if viewer.school_id not in deps.local_schools:
            raise Denied(404)  # a school on its own system (QLHS) is not imported here

    async def import_page(request: Request, viewer: Viewer) -> Response:
        importer(viewer)
        return render(request, "import.html", viewer, step="upload")

    async def import_check(request: Request, viewer: Viewer) -> Response:
        """Step 1: the uploaded file, read and compared, nothing written (``--dry-run``)."""
        importer(viewer)
        upload: tuple[str, bytes] | None = getattr(request.state, "upload", None)
        if upload is None or not upload[1]:
            return render(request, "import.html", viewer, status=400, step="upload", no_file=True)
        ref = secrets.token_hex(16)
        folder = deps.uploads / ref
        owner = f"{viewer.school_id}\n{viewer.teacher.id}\n"
        await asyncio.to_thread(store_upload, folder, upload[0], upload[1], owner)
        outcome = await run_import(viewer, folder, dry_run=True)
        if not outcome["ok"]:
            await asyncio.to_thread(shutil.rmtree, folder, True)
        return render(request, "import.html", viewer, step="checked", ref=ref, **outcome)

    async def import_apply(request: Request, viewer: Viewer) -> Response:
        """Step 2: the same file, applied."""
        importer(viewer)
        ref = request.state.form.get("ref", "")
        if not re.fullmatch(r"[0-9a-f]{32}", ref):
            raise Denied(404)
        folder = deps.uploads / ref
        owner = await asyncio.to_thread(owner_of, folder)
        if owner is None:
            raise Denied(404)  # applied already, or never checked
        if owner != [viewer.school_id, viewer.teacher.id]:
            raise Denied(403)
        # the file is taken (a second apply finds no owner), then applied in the background;
        # the browser follows it on /import/{ref}, a page that refreshes itself
        await asyncio.to_thread((folder / "owner").unlink)
        job = ImportJob(owner=(viewer.school_id, viewer.teacher.id))
        imports[ref] = job

        async def apply() -> None:
            try:
                job.outcome = await run_import(viewer, folder, dry_run=False, job=job)
                if job.outcome["ok"]:
                    await record(viewer, "web.import", "", rows=job.outcome["total"])
            except Exception:
                log.exception("web import failed")
                job.outcome = {"ok": False, "unreadable": "error", "errors": [], "sheets": []}
            finally:
                await asyncio.to_thread(shutil.rmtree, folder, True)

        job.task = asyncio.create_task(apply())
        return harden(RedirectResponse(f"{PREFIX}/import/{ref}", status_code=303))

    async def import_status(request: Request, viewer: Viewer) -> Response:
        importer(viewer)
        job = imports.get(request.path_params["ref"])
        if job is None:
            raise Denied(404)
        if job.owner != (viewer.school_id, viewer.teacher.id):
            raise Denied(403)
        if job.outcome is None:
            return render(
                request,
                "import.html",
                viewer,
                step="running",
                done=job.done,
                total=job.total,
                live=True,
            )
        for ref in [r for r, j in imports.items() if j.outcome is not None and j is not job]:
            imports.pop(ref, None)  # finished ones are shown once more at most
        return render(request, "import.html", viewer, step="applied", **job.outcome)

    async def run_import(
        viewer: Viewer, folder: Path, *, dry_run: bool, job: ImportJob | None = None
    ) -> dict[str, Any]:
        """``read_file`` then ``import_school``: what ``run_bot.py import`` runs."""
        from bot.backends.local_import import import_school
        from bot.backends.spreadsheet import SPECS, ImportFileError, ParsedImport, Said, read_file

        def read() -> ParsedImport:
            return read_file(next(p for p in folder.iterdir() if p.name != "owner"))

        def progress(what: str | Said, done: int, total: int) -> None:
            if job is not None:
                job.done, job.total = done, total

        try:
            parsed = await asyncio.to_thread(read)
        except (ImportFileError, MemoryError) as err:
            return {"ok": False, "unreadable": err, "errors": [], "sheets": [], "total": 0}
        report = await import_school(
            deps.sessions,
            parsed,
            school_id=viewer.school_id,
            now=now(),
            dry_run=dry_run,
            progress=progress,
        )
        sheets = [
            {
                "title": SPECS[kind].title,
                "added": summary.added,
                "changed": summary.changed,
                "unchanged": summary.unchanged,
                "changes": summary.changes[:20],
                "more": max(0, len(summary.changes) - 20),
            }
            for kind, summary in report.sheets.items()
        ]
        return {
            "ok": report.ok,
            "unreadable": "",
            "errors": report.errors[:200],
            "more_errors": max(0, len(report.errors) - 200),
            "sheets": sheets,
            "skipped": parsed.skipped,
            "total": sum(v.added + v.changed for v in report.sheets.values()),
        }

    # --- notices -------------------------------------------------------------------------------

    def targets(viewer: Viewer, locale: str) -> list[tuple[str, str]]:
        out = [
            (f"class:{c.id}", catalog.t(locale, "admin.target_class", name=c.name))
            for c in viewer.classes
        ]
        if viewer.role is not Role.TEACHER:
            grades = sorted({c.grade for c in viewer.classes})
            out += [
                (f"grade:{g}", catalog.t(locale, "admin.target_grade", grade=g)) for g in grades
            ]
            out.append(("school", catalog.t(locale, "admin.target_school")))
        return out

    def target_classes(viewer: Viewer, target: str) -> list[str] | None:
        """The class ids a target names (None: the whole school); 403 when not allowed."""
        kind, _, value = target.partition(":")
        if kind == "class":
            return [viewer.class_(value).id]
        if viewer.role is Role.TEACHER:
            raise Denied(403)
        if kind == "grade" and value.isdigit():
            ids = [c.id for c in viewer.classes if c.grade == int(value)]
            if ids:
                return ids
        if kind == "school" and not value:
            return None
        raise Denied(400)

    async def notices(request: Request, viewer: Viewer) -> Response:
        rows = await deps.queries.notices(viewer.school_id)
        visible = {c.id for c in viewer.classes}
        if viewer.role is Role.TEACHER:
            rows = [n for n in rows if n.class_ids and set(n.class_ids) <= visible]
        names = {c.id: c.name for c in viewer.classes}
        return render(
            request,
            "notices.html",
            viewer,
            notices=rows,
            names=names,
            targets=targets(viewer, locale_of(request)),
            draft={
                "target": request.query_params.get("target", ""),
                "text": "",
                "urgent": "",
                "send_at": "",
            },
            error="",
            limit=MAX_NOTICE,
        )

    def draft_of(request: Request) -> dict[str, str]:
        data = request.state.form
        return {
            "target": data.get("target", ""),
            "text": clean(data.get("text", "")).strip(),
            "urgent": "1" if data.get("urgent") else "",
            "send_at": data.get("send_at", "").strip(),
        }

    def send_time(viewer: Viewer, raw: str) -> dt.datetime | None:
        """A ``datetime-local`` value in the school's time zone, in UTC; None for "now".
        Raises ValueError when it is not a time between now and :data:`MAX_SCHEDULE`."""
        if not raw:
            return None
        local = dt.datetime.fromisoformat(raw)
        if local.tzinfo is not None:
            raise ValueError(raw)
        at = local.replace(tzinfo=services.for_school(viewer.school_id).tz).astimezone(dt.UTC)
        if not now() < at <= now() + MAX_SCHEDULE:
            raise ValueError(raw)
        return at

    async def preview(request: Request, viewer: Viewer) -> Response:
        draft = draft_of(request)
        locale = locale_of(request)
        error = ""
        if not draft["text"]:
            error = catalog.t(locale, "admin.notice_empty")
        elif len(draft["text"]) > MAX_NOTICE:
            error = catalog.t(locale, "admin.notice_too_long", limit=MAX_NOTICE)
        choices = targets(viewer, locale)
        label = next((name for value, name in choices if value == draft["target"]), "")
        if not label:
            error = error or catalog.t(locale, "admin.notice_no_target")
        try:
            send_at = send_time(viewer, draft["send_at"])
        except ValueError:
            send_at = None
            error = error or catalog.t(locale, "admin.notice_bad_time", days=MAX_SCHEDULE.days)
        if error:
            rows = await deps.queries.notices(viewer.school_id)
            return render(
                request,
                "notices.html",
                viewer,
                status=400,
                notices=rows if viewer.role is not Role.TEACHER else [],
                names={c.id: c.name for c in viewer.classes},
                targets=choices,
                draft=draft,
                error=error,
                limit=MAX_NOTICE,
            )
        target_classes(viewer, draft["target"])
        item = Item(kind=Content.NOTICES.value, payload={"text": draft["text"]}, occurred_at=now())

        def t(key: str, **values: object) -> str:
            return catalog.t("vi", key, **values)

        bubble = compose_alert(t, "vi", child=catalog.t("vi", "admin.preview_child"), item=item)
        return render(
            request,
            "preview.html",
            viewer,
            draft=draft,
            label=label,
            bubble=bubble,
            send_at=send_at,
        )

    async def send_notice(request: Request, viewer: Viewer) -> Response:
        draft = draft_of(request)
        if not draft["text"] or len(draft["text"]) > MAX_NOTICE:
            raise Denied(400)
        class_ids = target_classes(viewer, draft["target"])
        try:
            send_at = send_time(viewer, draft["send_at"])
        except ValueError:
            raise Denied(400) from None
        at = now()
        async with deps.uow_factory() as uow:
            posted = await post_notice(
                uow,
                services.backends.for_school(viewer.school_id),
                catalog,
                school_id=viewer.school_id,
                class_ids=class_ids,
                author=viewer.teacher.id,
                text=draft["text"],
                urgent=bool(draft["urgent"]),
                now=at,
                send_at=send_at,
            )
            await uow.audit.record(
                school_id=viewer.school_id,
                actor=actor(viewer.session.school_id, viewer.teacher.id),
                action="notice.sent",
                subject=",".join(class_ids) if class_ids else "*",
                detail={
                    "urgent": bool(draft["urgent"]),
                    "parents": posted.reached,
                    "web": True,
                    "send_at": send_at.isoformat() if send_at else None,
                },
                at=at,
            )
            await uow.commit()
        deps.wake()
        return harden(RedirectResponse(f"{PREFIX}/notices/{posted.notice_id}", status_code=303))

    async def notice_of(request: Request, viewer: Viewer) -> NoticeRow:
        """The notice in the path, if this viewer may see it (a teacher: their classes only)."""
        raw = request.path_params["notice_id"]
        notice = await deps.queries.notice(viewer.school_id, int(raw)) if raw.isdigit() else None
        if notice is None:
            raise Denied(404)
        if viewer.role is Role.TEACHER and (
            not notice.class_ids
            or any(cid not in {c.id for c in viewer.classes} for cid in notice.class_ids)
        ):
            raise Denied(403)
        return notice

    async def delivery(viewer: Viewer, notice: NoticeRow) -> dict[str, Any]:
        """The delivery table of a notice, and the pupils its chats did not reach: no channel,
        or every copy failed or blocked."""
        backend = services.backends.for_school(viewer.school_id)
        classes = notice.class_ids or tuple(c.id for c in viewer.classes)
        students: dict[str, Student] = {}
        for class_id in classes:
            for student in await backend.class_students(class_id):
                students[student.id] = student
        deliveries = await deps.queries.deliveries(viewer.school_id, notice.id)
        chats = await deps.queries.guardian_chats(viewer.school_id)
        no_channel = sorted(
            (s for sid, s in students.items() if not chats.get(sid)),
            key=lambda s: (s.class_name, s.full_name),
        )
        reached_ids = {d.student_id for d in deliveries if d.status in ("queued", "sent")}
        missed = {d.student_id for d in deliveries if d.student_id not in reached_ids}
        missed |= {s.id for s in no_channel}
        rows = sorted(
            (
                {
                    "sid": d.student_id,
                    "name": students[d.student_id].full_name if d.student_id in students else "?",
                    "cls": students[d.student_id].class_name if d.student_id in students else "",
                    "channel": CHANNEL_GROUPS.get(d.channel, "other"),
                    "status": d.status,
                    "detail": d.detail,
                }
                for d in deliveries
            ),
            key=lambda r: (r["cls"], r["name"]),
        )
        return {
            "students": students,
            "rows": rows,
            "no_channel": no_channel,
            "missed": sorted(sid for sid in missed if sid in students),
        }

    async def missed_guardians(viewer: Viewer, missed: Sequence[str]) -> list[tuple[Guardian, str]]:
        """(guardian, pupil) for the pupils not reached; the phone stays in the school data."""
        backend = services.backends.for_school(viewer.school_id)
        return [(g, sid) for sid in missed for g in await backend.guardians(sid)]

    def sms_state(statuses: Sequence[str]) -> str:
        """A pupil's SMS of a notice, over its guardians' copies: sent, queued or failed."""
        if "sent" in statuses:
            return "sms_sent"
        if any(s not in ("failed", "expired") for s in statuses):
            return "sms_queued"
        return "sms_failed" if statuses else ""

    async def notice_view(
        request: Request, viewer: Viewer, notice: NoticeRow, *, message: str = ""
    ) -> Response:
        table = await delivery(viewer, notice)
        rows, missed = table["rows"], table["missed"]
        sms_by_pupil: dict[str, str] = {}
        can_sms = viewer.school_id in deps.sms_schools
        if missed:
            pairs = await missed_guardians(viewer, missed)
            keys = {(sid, notice_sms_dedupe(viewer.school_id, notice.id, g.id)) for g, sid in pairs}
            states = await deps.queries.outbox_states(sorted({k for _, k in keys}))
            for sid in missed:
                found = [states[k] for pupil, k in keys if pupil == sid and k in states]
                if found:
                    sms_by_pupil[sid] = sms_state(found)
        counts = {
            s: sum(1 for r in rows if r["status"] == s)
            for s in ("queued", "sent", "failed", "blocked")
        }
        percent = round(100 * counts["sent"] / len(rows)) if rows else 0
        sms_live = any(v == "sms_queued" for v in sms_by_pupil.values())
        return render(
            request,
            "notice.html",
            viewer,
            notice=notice,
            names={c.id: c.name for c in viewer.classes},
            rows=rows,
            counts=counts,
            percent=percent,
            no_channel=table["no_channel"],
            sms=sms_by_pupil,
            can_sms=can_sms,
            left=[sid for sid in missed if sid not in sms_by_pupil],
            message=message,
            live=(counts["queued"] > 0 or sms_live) and now() - notice.created_at < LIVE_FOR,
        )

    async def notice_page(request: Request, viewer: Viewer) -> Response:
        return await notice_view(request, viewer, await notice_of(request, viewer))

    async def notice_sms(request: Request, viewer: Viewer) -> Response:
        """Text the notice to the guardians of the pupils its chats did not reach."""
        notice = await notice_of(request, viewer)
        if viewer.school_id not in deps.sms_schools:
            raise Denied(404)  # the school has no SMS provider: no button either
        table = await delivery(viewer, notice)
        pairs = await missed_guardians(viewer, table["missed"])
        at = now()
        async with deps.uow_factory() as uow:
            queued = await queue_notice_sms(
                uow,
                catalog,
                school_id=viewer.school_id,
                notice_id=notice.id,
                text=notice.text,
                urgent=notice.urgent,
                guardians=pairs,
                max_segments=deps.sms_max_segments,
                now=at,
            )
            if queued:
                await uow.audit.record(
                    school_id=viewer.school_id,
                    actor=actor(viewer.session.school_id, viewer.teacher.id),
                    action="notice.sms",
                    subject=str(notice.id),
                    detail={"guardians": queued, "web": True},
                    at=at,
                )
            await uow.commit()
        if not queued:
            message = catalog.t(locale_of(request), "admin.sms_nobody_left")
            return await notice_view(request, viewer, notice, message=message)
        log.info("web: notice %s texted to %d guardians", notice.id, queued)
        deps.wake()
        return harden(RedirectResponse(f"{PREFIX}/notices/{notice.id}", status_code=303))

    return Starlette(
        routes=[
            Route("/", page(dashboard), methods=["GET"]),
            Route("/signin", sign_in_help, methods=["GET"]),
            Route("/signin", sign_in, methods=["POST"]),
            Route("/signin/{token}", sign_in_confirm, methods=["GET"]),
            Route("/signout", page(sign_out, post=True), methods=["POST"]),
            Route("/lang/{code}", language, methods=["GET"]),
            Route("/school", page(choose_school, post=True), methods=["POST"]),
            Route("/class/{class_id}", page(class_page), methods=["GET"]),
            Route("/class/{class_id}/letters.pdf", page(letters), methods=["GET"]),
            Route("/class/{class_id}/contact-book.pdf", page(contact_book), methods=["GET"]),
            Route("/import", page(import_page), methods=["GET"]),
            Route("/import", page(import_check, post=True, limit=MAX_UPLOAD), methods=["POST"]),
            Route("/import/apply", page(import_apply, post=True), methods=["POST"]),
            Route("/import/{ref}", page(import_status), methods=["GET"]),
            Route("/leave", page(leave_page), methods=["GET"]),
            Route("/leave.csv", page(leave_csv), methods=["GET"]),
            Route("/audit", page(audit_page), methods=["GET"]),
            Route("/consent.csv", page(consent_csv), methods=["GET"]),
            Route("/audit.csv", page(audit_csv), methods=["GET"]),
            Route("/notices", page(notices), methods=["GET"]),
            Route("/notices/preview", page(preview, post=True), methods=["POST"]),
            Route("/notices", page(send_notice, post=True), methods=["POST"]),
            Route("/notices/{notice_id}", page(notice_page), methods=["GET"]),
            Route("/notices/{notice_id}/sms", page(notice_sms, post=True), methods=["POST"]),
        ]
    )
