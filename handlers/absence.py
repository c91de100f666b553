"""Leave requests after the parent sent them: the homeroom teacher's decision, the parent's
cancel, teachers' questions, and every message to the other side (through the outbox).

A decision is a compare-and-set on the request's version (``AbsenceRepo.transition``), taken
inside the turn's transaction together with the outbox row that tells the parent: either both
are committed or neither. It is re-authorised on every press and every typed "duyet 12": the
decider must hold a staff link to the homeroom teacher of the pupil's class (or be the deputy
configured for escalations). A double tap, a stale or forged button, two teachers at once or a
cancelled request change nothing, and the person is told why.

The functions that also run outside a conversation (the reminder job in
``bot.absence_jobs``) take a :class:`Desk`: the transaction, the services and the school.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from bot.domain.absence import (
    AbsenceStatus,
    DaySession,
    crossed_thresholds,
    parse_decision,
    school_days,
)
from bot.domain.attendance import YEAR_LIMIT, sessions_absent
from bot.domain.errors import BackendError, BackendUnsupported
from bot.domain.formatting import format_date, weekday_name
from bot.domain.models import Student, Teacher
from bot.domain.text import contains_phrase, fold
from bot.feature import Feature, action
from bot.messages import Attachment, Button, ConversationKey, Reply
from bot.ports import (
    AbsenceRequest,
    Capability,
    LinkRole,
    OutgoingMessage,
    SchoolBackend,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bot.turn import AS_TEACHER, CoreServices, Turn, with_tokens
from handlers.common import child_label
from handlers.intents import Intent, IntentName, parse_cancel_request

log = logging.getLogger(__name__)

# its buttons: ab:ok:<id>, ab:no:<id>, ab:nr:<id>, ab:keep:<id>, ab:cancel:<id>, ab:files:<id>
ACTION = "ab"
# "xem giấy tờ 12", "/giayto 12", "files 12": a teacher sees a request's files again (issue 17)
FILES_COMMAND = re.compile(r"^(?:/?xem giay to|/giayto|/files|view files|files)\s*#?(\d+)$")
MAX_DECISION_REASON = 300
WRITE_RETRY = dt.timedelta(minutes=5)
WRITE_RETRY_CAP = dt.timedelta(hours=6)


# --- the context shared with the background job ------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Desk:
    """What the absence workflow needs, in a turn or in the reminder job."""

    uow: UnitOfWork
    services: CoreServices
    school_id: str
    now: dt.datetime

    @property
    def backend(self) -> SchoolBackend:
        return self.services.backends.for_school(self.school_id)

    def t(self, locale: str, key: str, /, **values: object) -> str:
        return self.services.catalog.t(locale, key, **values)

    async def locale_of(self, key: ConversationKey) -> str:
        state = await self.uow.conversations.load(key)
        return state.locale or state.platform_locale or "vi"

    async def audit(self, action: str, request_id: int, **detail: object) -> None:
        await self.uow.audit.record(
            school_id=self.school_id,
            actor="system",
            action=action,
            subject=f"absence:{request_id}",
            detail=dict(detail),
            at=self.now,
        )


def desk_of(turn: Turn) -> Desk:
    return Desk(uow=turn.uow, services=turn.services, school_id=turn.key.school_id, now=turn.now())


# --- text ---------------------------------------------------------------------------------


def span_text(desk: Desk, locale: str, start: dt.date, end: dt.date, session: str) -> str:
    """ "Thứ Ba 24/11/2026 (cả ngày)" or "24/11/2026 – 26/11/2026 (buổi sáng)"."""
    label = desk.t(locale, f"attendance.session_{DaySession(session).value}")
    if start == end:
        return f"{weekday_name(start.weekday(), locale)} {format_date(start)} ({label})"
    return f"{format_date(start)} – {format_date(end)} ({label})"


def files_text(desk: Desk, locale: str, files: Sequence[Attachment]) -> str:
    """ "1 ảnh", "2 ảnh, 1 tệp": what came with a request."""
    photos = sum(1 for f in files if f.kind == "photo")
    parts = []
    if photos:
        parts.append(desk.t(locale, "absence.files_photos", n=photos))
    if len(files) - photos:
        parts.append(desk.t(locale, "absence.files_documents", n=len(files) - photos))
    return ", ".join(parts)


def files_reach(desk: Desk, request: AbsenceRequest, to: ConversationKey) -> bool:
    """A platform's file reference means something to the same bot only: a request's files
    go to a chat on the parent's own channel, when that channel passes files on."""
    caps = desk.services.capabilities.get(to.channel)
    return caps is not None and caps.attachments and to.channel == request.requester.channel


def request_sessions(request: AbsenceRequest) -> int:
    return len(school_days(request.start_date, request.end_date))


async def year_total(backend: SchoolBackend, student_id: str) -> int:
    return sessions_absent(await backend.attendance(student_id))


# --- who may decide -----------------------------------------------------------------------


async def homeroom_teachers(desk: Desk, class_id: str) -> list[Teacher]:
    """The class's homeroom teachers and the substitutes the school set for today."""
    today = desk.now.astimezone(desk.services.tz).date()
    standing_in = {
        s.teacher_id
        for s in await desk.uow.substitutes.on(desk.school_id, today)
        if s.class_id == class_id
    }
    return [
        t
        for t in await desk.backend.teachers()
        if class_id in t.homeroom_class_ids or t.id in standing_in
    ]


async def classes_in_charge(desk: Desk, teacher: Teacher) -> set[str]:
    """The classes whose leave requests ``teacher`` decides today (homeroom or substitute)."""
    today = desk.now.astimezone(desk.services.tz).date()
    subs = await desk.uow.substitutes.on(desk.school_id, today)
    return set(teacher.homeroom_class_ids) | {
        s.class_id for s in subs if s.teacher_id == teacher.id
    }


async def deputy(desk: Desk) -> Teacher | None:
    code = desk.services.absence_policy.deputy_code
    return await desk.backend.find_teacher(code) if code else None


async def my_teachers(turn: Turn) -> list[Teacher]:
    """The staff records this chat user is linked to (a person may also be a parent). A turn
    that acts as a teacher addresses its reader "thầy/cô", a parent's own turns "anh/chị"."""
    ids = {link.subject_id for link in await turn.links() if link.role is LinkRole.STAFF}
    if not ids:
        return []
    turn.to_teacher = True
    return [t for t in await turn.backend.teachers() if t.id in ids]


async def may_decide(
    desk: Desk, teacher: Teacher, request: AbsenceRequest, deputy_id: str | None
) -> bool:
    return teacher.id == deputy_id or request.class_id in await classes_in_charge(desk, teacher)


# --- messages to the other side -----------------------------------------------------------


async def _enqueue(
    desk: Desk,
    recipient: ConversationKey,
    *,
    kind: str,
    text: str,
    dedupe: str,
    locale: str,
    buttons: tuple[Button, ...] = (),
    urgent: bool = False,
    attachment: Attachment | None = None,
) -> bool:
    rows: tuple[tuple[Button, ...], ...] = ()
    if buttons and desk.services.can_show_buttons(recipient.channel):
        rows = await with_tokens(desk.uow, recipient, (buttons,), now=desk.now)
    return await desk.uow.outbox.enqueue(
        OutgoingMessage(
            recipient=recipient,
            kind=kind,
            text=text,
            dedupe_key=dedupe,
            buttons=rows,
            urgent=urgent,
            expires_at=desk.now + dt.timedelta(days=7),
            locale=locale,
            attachment=attachment,
        ),
        now=desk.now,
    )


async def notify_deciders(
    desk: Desk,
    request: AbsenceRequest,
    student: Student,
    teachers: Sequence[Teacher],
    *,
    kind: str,
    headline_key: str,
) -> int:
    """Send the request (with Approve / Reject) to every linked chat of ``teachers``.
    Returns how many chats it went to."""
    total = await year_total(desk.backend, student.id)
    sent = 0
    for teacher in teachers:
        links = await desk.uow.links.for_subject(
            school_id=desk.school_id, role=LinkRole.STAFF, subject_id=teacher.id
        )
        for link in links:
            locale = await desk.locale_of(link.key)
            lines = [
                desk.t(locale, headline_key, id=request.id),
                desk.t(
                    locale,
                    "absence.card",
                    child=child_label(student),
                    span=span_text(
                        desk, locale, request.start_date, request.end_date, request.session
                    ),
                    reason=request.reason,
                    total=total,
                    limit=YEAR_LIMIT,
                ),
            ]
            if not desk.services.can_show_buttons(link.key.channel):
                lines.append(desk.t(locale, "absence.typed_hint", id=request.id))
            files = request.attachments
            reach = bool(files) and files_reach(desk, request, link.key)
            if files:
                what = files_text(desk, locale, files)
                key = "absence.files_follow" if reach else "absence.files_elsewhere"
                lines.append(desk.t(locale, key, files=what))
            queued = await _enqueue(
                desk,
                link.key,
                kind=kind,
                text="\n".join(lines),
                dedupe=f"{kind}:{request.school_id}:{request.id}:{link.key.channel}:{link.key.user_id}",
                buttons=(
                    Button(
                        label=desk.t(locale, "button.approve"),
                        action=action(ACTION, "ok", request.id),
                    ),
                    Button(
                        label=desk.t(locale, "button.reject"),
                        action=action(ACTION, "no", request.id),
                    ),
                ),
                urgent=True,  # the parent waits for it; a teacher on a school night is fine
                locale=locale,
            )
            sent += int(queued)
            if queued and reach:  # the card (with its buttons), then each file after it
                await _send_files(desk, request, link.key, locale, kind=kind, tag="")
    return sent


async def _send_files(
    desk: Desk,
    request: AbsenceRequest,
    to: ConversationKey,
    locale: str,
    *,
    kind: str,
    tag: str,
) -> None:
    """Queue each file of ``request`` to ``to``, captioned "Giấy tờ kèm đơn #12 (1/2)".
    ``tag`` tells one re-sending from another (the dedupe key)."""
    files = request.attachments
    for n, attached in enumerate(files, 1):
        await _enqueue(
            desk,
            to,
            kind=f"{kind}.file",
            text=desk.t(locale, "absence.file_caption", id=request.id, n=n, count=len(files)),
            dedupe=(
                f"{kind}.file{n}{tag}:{request.school_id}:{request.id}:{to.channel}:{to.user_id}"
            ),
            urgent=True,
            locale=locale,
            attachment=attached,
        )


async def notify_parent(
    desk: Desk, request: AbsenceRequest, student: Student, *, what: str, teacher: str = ""
) -> None:
    """Tell the requester what became of their request: approved, rejected, expired,
    escalated."""
    locale = await desk.locale_of(request.requester)
    span = span_text(desk, locale, request.start_date, request.end_date, request.session)
    text = desk.t(
        locale,
        f"absence.parent_{what}",
        id=request.id,
        child=child_label(student),
        span=span,
        teacher=teacher,
    )
    if what == "rejected" and request.decision_reason:
        text += "\n" + desk.t(locale, "absence.reject_reason", reason=request.decision_reason)
    await _enqueue(
        desk,
        request.requester,
        kind=f"absence.{what}",
        text=text,
        dedupe=f"absence.{what}:{request.school_id}:{request.id}",
        urgent=what in {"approved", "rejected"},
        locale=locale,
    )


async def notify_teachers(
    desk: Desk, request: AbsenceRequest, student: Student, *, key: str
) -> None:
    """A plain note (no buttons) to the homeroom teachers: cancelled, expired."""
    for teacher in await homeroom_teachers(desk, request.class_id):
        links = await desk.uow.links.for_subject(
            school_id=desk.school_id, role=LinkRole.STAFF, subject_id=teacher.id
        )
        for link in links:
            locale = await desk.locale_of(link.key)
            await _enqueue(
                desk,
                link.key,
                kind=key,
                text=desk.t(locale, key, id=request.id, child=child_label(student)),
                dedupe=f"{key}:{request.school_id}:{request.id}:{link.key.channel}:{link.key.user_id}",
                locale=locale,
            )


async def warn_thresholds(desk: Desk, student: Student, before: int, after: int) -> None:
    """Tell every linked guardian when the year's absences reach 30, 40 or 45 buổi."""
    for threshold in crossed_thresholds(before, after):
        links = await desk.uow.links.for_subject(
            school_id=desk.school_id, role=LinkRole.GUARDIAN, subject_id=student.id
        )
        for link in links:
            locale = await desk.locale_of(link.key)
            key = "absence.limit_reached" if threshold >= YEAR_LIMIT else "absence.threshold"
            await _enqueue(
                desk,
                link.key,
                kind="absence.threshold",
                text=desk.t(
                    locale,
                    key,
                    child=child_label(student),
                    total=after,
                    threshold=threshold,
                    limit=YEAR_LIMIT,
                ),
                dedupe=(
                    f"absence.threshold:{desk.school_id}:{student.id}:{threshold}:"
                    f"{link.key.channel}:{link.key.user_id}"
                ),
                locale=locale,
            )


# --- writing the approved absence to the school system -------------------------------------


async def write_to_backend(desk: Desk, request: AbsenceRequest, student: Student) -> bool:
    """Record each school day of an approved request as excused. On failure the request
    stays approved and is retried later (``bot.absence_jobs``); ``stats`` shows it."""
    backend = desk.backend
    try:
        before = await year_total(backend, student.id)
        for day in school_days(request.start_date, request.end_date):
            await backend.record_absence(
                student.id, day, request.session, excused=True, reason=request.reason
            )
        after = await year_total(backend, student.id)
    except BackendUnsupported:  # the school system takes no writes: staff record it by hand
        await desk.uow.absences.record_write(
            request.id, now=desk.now, error="BackendUnsupported", retry_at=None
        )
        await desk.audit("absence.write_unsupported", request.id)
        return False
    except BackendError as err:
        delay = min(WRITE_RETRY * (2 ** min(request.write_attempts, 8)), WRITE_RETRY_CAP)
        await desk.uow.absences.record_write(
            request.id, now=desk.now, error=type(err).__name__, retry_at=desk.now + delay
        )
        await desk.audit("absence.write_failed", request.id, error=type(err).__name__)
        log.warning("absence %s not written yet: %s", request.id, type(err).__name__)
        return False
    await desk.uow.absences.record_write(request.id, now=desk.now)
    await desk.audit("absence.written", request.id)
    await warn_thresholds(desk, student, before, after)
    return True


# --- decisions ----------------------------------------------------------------------------


def _status_reply(turn: Turn, request: AbsenceRequest) -> list[Reply]:
    key = {
        AbsenceStatus.APPROVED: "absence.already_approved",
        AbsenceStatus.REJECTED: "absence.already_rejected",
        AbsenceStatus.CANCELLED: "absence.already_cancelled",
        AbsenceStatus.EXPIRED: "absence.already_expired",
    }.get(AbsenceStatus(request.status), "absence.already_decided")
    return [Reply(text=turn.t(key, id=request.id), notice=True)]


async def _authorised(
    turn: Turn, request_id: int
) -> tuple[AbsenceRequest, Teacher, Student] | list[Reply]:
    """The request and the teacher deciding it, or the replies explaining why not."""
    teachers = await my_teachers(turn)
    if not teachers:
        return [Reply(text=turn.t("absence.teachers_only"))]
    request = await turn.uow.absences.get(turn.key.school_id, request_id)
    if request is None:
        return [Reply(text=turn.t("absence.not_found", id=request_id))]
    desk = desk_of(turn)
    chief = await deputy(desk)
    chief_id = chief.id if chief else None
    allowed = [t for t in teachers if await may_decide(desk, t, request, chief_id)]
    if not allowed:
        await turn.audit("absence.forbidden", f"absence:{request_id}")
        return [Reply(text=turn.t("absence.not_your_class", id=request_id))]
    student = await turn.backend.get_student(request.student_id)
    if student is None:
        return [Reply(text=turn.t("absence.not_found", id=request_id))]
    return request, allowed[0], student


async def approve(turn: Turn, request_id: int) -> list[Reply]:
    found = await _authorised(turn, request_id)
    if isinstance(found, list):
        return found
    request, teacher, student = found
    if request.status != AbsenceStatus.PENDING:
        return _status_reply(turn, request)
    desk = desk_of(turn)
    if not await turn.uow.absences.transition(
        request, AbsenceStatus.APPROVED, now=desk.now, decided_by=teacher.id
    ):
        return await _lost_race(turn, request_id)
    await turn.audit("absence.approved", f"absence:{request_id}", teacher=teacher.id)
    approved = await turn.uow.absences.get(turn.key.school_id, request_id)
    assert approved is not None
    await notify_parent(desk, approved, student, what="approved", teacher=teacher.full_name)
    turn.after_commit(partial(write_now, services=turn.services, request=approved))
    writes = Capability.ABSENCE_WRITE in turn.backend.capabilities
    key = "absence.approved_done" if writes else "absence.approved_done_by_hand"
    return [Reply(text=turn.t(key, id=request_id, child=child_label(student)), edit=True)]


async def write_now(
    uow_factory: UnitOfWorkFactory, *, services: CoreServices, request: AbsenceRequest
) -> None:
    """Write an approved request to the school system in a transaction of its own (after
    the decision is committed). On failure the retry job takes over."""
    async with uow_factory() as uow:
        fresh = await uow.absences.get(request.school_id, request.id)
        if fresh is None or fresh.status != AbsenceStatus.APPROVED or fresh.written_at:
            return
        desk = Desk(
            uow=uow, services=services, school_id=request.school_id, now=services.clock.now()
        )
        student = await desk.backend.get_student(fresh.student_id)
        if student is None:
            return
        await write_to_backend(desk, fresh, student)
        await uow.commit()


async def ask_reject_reason(turn: Turn, request_id: int) -> list[Reply]:
    """The Reject button: ask for an optional reason before deciding."""
    found = await _authorised(turn, request_id)
    if isinstance(found, list):
        return found
    request, _, student = found
    if request.status != AbsenceStatus.PENDING:
        return _status_reply(turn, request)
    turn.state.clear_dialog()
    turn.state.dialog = REJECT_DIALOG
    turn.state.step = "reason"
    turn.state.data = {"request_id": request_id, AS_TEACHER: True}
    return [
        Reply(
            text=turn.t("absence.ask_reject_reason", id=request_id, child=child_label(student)),
            buttons=(
                (
                    Button(
                        label=turn.t("button.no_reason"), action=action(ACTION, "nr", request_id)
                    ),
                    Button(
                        label=turn.t("button.cancel"), action=action(ACTION, "keep", request_id)
                    ),
                ),
            ),
        )
    ]


async def reject(turn: Turn, request_id: int, reason: str) -> list[Reply]:
    reason = " ".join(reason.split())
    if len(reason) > MAX_DECISION_REASON:
        return [Reply(text=turn.t("absence.reject_reason_too_long", limit=MAX_DECISION_REASON))]
    found = await _authorised(turn, request_id)
    if isinstance(found, list):
        return found
    request, teacher, student = found
    if request.status != AbsenceStatus.PENDING:
        return _status_reply(turn, request)
    desk = desk_of(turn)
    if not await turn.uow.absences.transition(
        request, AbsenceStatus.REJECTED, now=desk.now, decided_by=teacher.id, reason=reason
    ):
        return await _lost_race(turn, request_id)
    await turn.audit("absence.rejected", f"absence:{request_id}", teacher=teacher.id)
    rejected = await turn.uow.absences.get(turn.key.school_id, request_id)
    assert rejected is not None
    await notify_parent(desk, rejected, student, what="rejected", teacher=teacher.full_name)
    return [Reply(text=turn.t("absence.rejected_done", id=request_id, child=child_label(student)))]


async def _lost_race(turn: Turn, request_id: int) -> list[Reply]:
    """Someone else changed the request between our read and our write."""
    fresh = await turn.uow.absences.get(turn.key.school_id, request_id)
    if fresh is None:
        return [Reply(text=turn.t("absence.not_found", id=request_id))]
    return _status_reply(turn, fresh)


REJECT_DIALOG = "absence_reject"  # the one question after Reject: dialogs/reject_reason.py


async def show_files(turn: Turn, request_id: int) -> list[Reply]:
    """ "xem giấy tờ 12" or the 📎 button: the request's files again, to this teacher's chat
    only, through the outbox; re-authorised on every press like a decision."""
    found = await _authorised(turn, request_id)
    if isinstance(found, list):
        return found
    request, _, _ = found
    if not request.attachments:
        return [Reply(text=turn.t("absence.no_files", id=request_id))]
    desk = desk_of(turn)
    if not files_reach(desk, request, turn.key):
        return [Reply(text=turn.t("absence.files_not_here", id=request_id))]
    await _send_files(
        desk,
        request,
        turn.key,
        turn.locale,
        kind="absence.files_again",
        # each press sends again (a replayed event never runs twice: the router records it)
        tag=f"@{secrets.token_hex(6)}",
    )
    await turn.audit("absence.files_shown", f"absence:{request_id}", files=len(request.attachments))
    return [
        Reply(
            text=turn.t("absence.files_resent", id=request_id, count=len(request.attachments)),
            notice=bool(turn.action),
        )
    ]


# --- the parent's side ----------------------------------------------------------------------


async def cancel(turn: Turn, request_id: int) -> list[Reply]:
    """The parent withdraws a pending request (only their own, only while pending)."""
    request = await turn.uow.absences.get(turn.key.school_id, request_id)
    guardian_of = {link.subject_id for link in await turn.guardian_links()}
    if (
        request is None
        or (request.requester.channel, request.requester.user_id)
        != (turn.key.channel, turn.key.user_id)
        # the chat must still be linked to the pupil: a link the school revoked, or a
        # /forget, takes the request out of this chat's hands
        or request.student_id not in guardian_of
    ):
        return [Reply(text=turn.t("absence.not_found", id=request_id))]
    if request.status != AbsenceStatus.PENDING:
        return _status_reply(turn, request)
    desk = desk_of(turn)
    if not await turn.uow.absences.transition(request, AbsenceStatus.CANCELLED, now=desk.now):
        return await _lost_race(turn, request_id)
    await turn.audit("absence.cancelled", f"absence:{request_id}")
    student = await turn.backend.get_student(request.student_id)
    if student is not None:
        await notify_teachers(desk, request, student, key="absence.teacher_cancelled")
    return [Reply(text=turn.t("absence.cancel_done", id=request_id), edit=True)]


async def my_requests(turn: Turn) -> list[Reply]:
    """A parent's pending requests, each with a Cancel button."""
    guardian_of = {link.subject_id for link in await turn.guardian_links()}
    pending = [
        request
        for request in await turn.uow.absences.pending_for_requester(turn.key)
        if request.student_id in guardian_of  # not after the link was revoked
    ]
    if not pending:
        return [Reply(text=turn.t("absence.none_pending_parent"))]
    desk = desk_of(turn)
    lines = [turn.t("absence.pending_parent_title")]
    rows = []
    for request in pending:
        student = await turn.backend.get_student(request.student_id)
        name = child_label(student) if student else ""
        span = span_text(desk, turn.locale, request.start_date, request.end_date, request.session)
        clip = f" 📎 {len(request.attachments)}" if request.attachments else ""
        lines.append(f"#{request.id} {name}: {span}{clip}")
        rows.append(
            (
                Button(
                    label=turn.t("button.cancel_request", id=request.id),
                    action=action(ACTION, "cancel", request.id),
                ),
            )
        )
    return [Reply(text="\n".join(lines), buttons=tuple(rows), private_only=True)]


# --- teachers' questions --------------------------------------------------------------------


async def pending_list(turn: Turn) -> list[Reply]:
    teachers = await my_teachers(turn)
    if not teachers:
        return [Reply(text=turn.t("absence.teachers_only"))]
    desk = desk_of(turn)
    chief = await deputy(desk)
    is_deputy = chief is not None and any(t.id == chief.id for t in teachers)
    classes = sorted({c for t in teachers for c in await classes_in_charge(desk, t)})
    if is_deputy:
        classes = sorted(c.id for c in await turn.backend.classes())
    pending = await turn.uow.absences.pending_for_classes(turn.key.school_id, classes)
    if not pending:
        return [Reply(text=turn.t("absence.none_pending_teacher"))]
    lines = [turn.t("absence.pending_teacher_title", count=len(pending))]
    rows = []
    for request in pending[:10]:
        student = await turn.backend.get_student(request.student_id)
        name = child_label(student) if student else request.student_id
        span = span_text(desk, turn.locale, request.start_date, request.end_date, request.session)
        clip = f" 📎 {len(request.attachments)}" if request.attachments else ""
        lines.append(f"#{request.id} {name}: {span} — {request.reason}{clip}")
        row: tuple[Button, ...] = (
            Button(
                label=f"{turn.t('button.approve')} #{request.id}",
                action=action(ACTION, "ok", request.id),
            ),
            Button(
                label=f"{turn.t('button.reject')} #{request.id}",
                action=action(ACTION, "no", request.id),
            ),
        )
        if request.attachments:
            see = Button(label=f"📎 #{request.id}", action=action(ACTION, "files", request.id))
            row = (*row, see)
        rows.append(row)
    if any(r.attachments for r in pending[:10]):
        lines.append(turn.t("absence.files_hint"))
    if not turn.services.can_show_buttons(turn.key.channel):
        lines.append(turn.t("absence.typed_hint_generic"))
        return [Reply(text="\n".join(lines), private_only=True)]
    return [Reply(text="\n".join(lines), buttons=tuple(rows), private_only=True)]


async def absent_on(turn: Turn, day: dt.date) -> list[Reply]:
    """Who in my classes is absent on ``day``: recorded (with / without permission) and
    requested (pending or approved, not yet in the record)."""
    teachers = await my_teachers(turn)
    if not teachers:
        return [Reply(text=turn.t("absence.teachers_only"))]
    desk = desk_of(turn)
    classes = sorted({c for t in teachers for c in await classes_in_charge(desk, t)})
    if not classes:
        return [Reply(text=turn.t("absence.no_homeroom"))]
    lines = [
        turn.t(
            "absence.absent_title",
            day=f"{weekday_name(day.weekday(), turn.locale)} {format_date(day)}",
        )
    ]
    requests = await turn.uow.absences.covering(turn.key.school_id, classes, day)
    anyone = False
    for class_id in classes:
        for student in await turn.backend.class_students(class_id):
            records = [r for r in await turn.backend.attendance(student.id) if r.date == day]
            mine = [r for r in requests if r.student_id == student.id]
            if records:
                kind = (
                    "attendance.excused"
                    if all(r.excused for r in records)
                    else "attendance.unexcused"
                )
                lines.append(f"• {child_label(student)} — {turn.t(kind)}")
                anyone = True
            elif mine:
                status = turn.t(f"absence.status_{mine[0].status}")
                lines.append(f"• {child_label(student)} — {status} (#{mine[0].id})")
                anyone = True
    if not anyone:
        lines.append(turn.t("absence.nobody_absent"))
    return [Reply(text="\n".join(lines), private_only=True)]


def pupils_named(folded: str, pupils: Sequence[Student]) -> list[Student]:
    """The pupils a question names (issue 13.9: "Phạm Quang Huy" is not "Đỗ Gia Huy").

    The name typed after "của" (or the whole question) is compared word by word with the end
    of each full name, so "Huy", "Gia Huy" and "Đỗ Gia Huy" all name Đỗ Gia Huy, and
    "Phạm Quang Huy" names nobody in a class without him. A full name found anywhere in the
    question wins over a given name alone."""
    words = re.findall(r"[^\W_]+", folded)
    typed = words[words.index("cua") + 1 :] if "cua" in words else []
    full = [p for p in pupils if contains_phrase(folded, fold(p.full_name))]
    if full:
        return full
    for size in range(len(typed), 0, -1):  # "Huy lớp 6A": the name is the first words
        named = [p for p in pupils if _ends_with(fold(p.full_name).split(), typed[:size])]
        if named:
            return named
    if typed:
        return []
    return [p for p in pupils if fold(p.given_name) in words]


def _ends_with(name: list[str], typed: list[str]) -> bool:
    return 0 < len(typed) <= len(name) and name[-len(typed) :] == typed


async def pupil_total(turn: Turn, folded: str) -> list[Reply]:
    """A pupil's year total, for a teacher: the pupil is named in the question."""
    teachers = await my_teachers(turn)
    if not teachers:
        return [Reply(text=turn.t("absence.teachers_only"))]
    desk = desk_of(turn)
    classes = sorted({c for t in teachers for c in await classes_in_charge(desk, t)})
    pupils = [s for class_id in classes for s in await turn.backend.class_students(class_id)]
    matches = pupils_named(folded, pupils)
    if not matches:
        return [Reply(text=turn.t("absence.which_pupil"))]
    if len(matches) > 1:
        names = "\n".join(f"• {child_label(student)}" for student in matches[:10])
        return [Reply(text=turn.t("absence.which_of_pupils", names=names), private_only=True)]
    lines = []
    for student in matches:
        records = list(await turn.backend.attendance(student.id))
        excused = sum(1 for r in records if r.excused)
        total = sessions_absent(records)
        lines.append(
            turn.t(
                "absence.pupil_total",
                child=child_label(student),
                total=total,
                excused=excused,
                unexcused=total - excused,
                limit=YEAR_LIMIT,
            )
        )
    return [Reply(text="\n".join(lines), private_only=True)]


# --- how the workflow plugs into the router ---------------------------------------------------


async def _typed(turn: Turn, intent: Intent) -> list[Reply] | None:
    """A teacher's typed decision ("duyet 12", "tu choi 12 lý do") or a parent's typed
    "huỷ đơn 12", on any channel, even in the middle of a dialog."""
    decision = parse_decision(turn.text)
    if decision is not None:
        verb, request_id, reason = decision
        if turn.state.dialog == REJECT_DIALOG:
            turn.state.clear_dialog()
        if verb == "approve":
            return await approve(turn, request_id)
        if not reason.strip():  # as after the button: ask for the reason, or "no reason"
            return await ask_reject_reason(turn, request_id)
        return await reject(turn, request_id, reason)
    cancel_id = parse_cancel_request(fold(turn.text))
    if cancel_id is not None:
        return await cancel(turn, cancel_id)
    asked = FILES_COMMAND.match(" ".join(fold(turn.text).split()))
    if asked is not None:
        return await show_files(turn, int(asked.group(1)))
    return None


async def _on_button(turn: Turn, rest: str) -> list[Reply]:
    verb, _, number = rest.partition(":")
    if not number.isdigit():
        return [Reply(text=turn.t("button.stale"))]
    request_id = int(number)
    if verb == "ok":
        return await approve(turn, request_id)
    if verb == "no":
        return await ask_reject_reason(turn, request_id)
    if verb == "nr":
        return await reject(turn, request_id, "")
    if verb == "keep":
        return [Reply(text=turn.t("absence.kept", id=request_id), edit=True)]
    if verb == "cancel":
        return await cancel(turn, request_id)
    if verb == "files":
        return await show_files(turn, request_id)
    return [Reply(text=turn.t("button.stale"))]


async def _my_requests(turn: Turn, intent: Intent | None = None) -> list[Reply]:
    return await my_requests(turn)


async def _pending(turn: Turn, intent: Intent | None = None) -> list[Reply]:
    return await pending_list(turn)


async def _absent_today(turn: Turn) -> list[Reply]:
    return await absent_on(turn, turn.today())


FEATURE = Feature(
    name="absence",
    commands=(_typed,),
    intents={IntentName.MY_REQUESTS: _my_requests, IntentName.PENDING: _pending},
    actions={ACTION: _on_button},
    menu={"my_requests": _my_requests, "pending": _pending, "class_absent": _absent_today},
)
