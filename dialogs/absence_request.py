"""A parent asks for leave (xin nghỉ học) for one child: which child, which days, which
session, why; a summary to confirm; then the request goes to the homeroom teacher.

See ``absence_request.mmd`` for the diagram. What the first message already says
("cho cháu An nghỉ thứ 2 vì ốm") is not asked again: every answer is read for all the
missing slots at once. The dates are checked as soon as they are known and again on
sending (time passes; another request may have been sent from another phone).

Warning:
    Run only inside the router's per-conversation lock: the steps read and write
    ``turn.state`` without further locking.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Awaitable, Callable, Sequence

from bot.domain.absence import (
    MAX_REASON,
    DateProblem,
    DaySession,
    check_dates,
    check_reason,
    extract,
    impossible_date,
    overlaps,
    parse_dates,
    parse_reason,
    parse_session,
)
from bot.domain.models import Student
from bot.domain.text import fold
from bot.domain.threads import attachment_problem
from bot.feature import action, dialog_feature
from bot.messages import Attachment, Button, Reply
from bot.ports import LinkRole
from bot.turn import Turn
from handlers import absence, attendance
from handlers.common import child_label, linked_children, mentions
from handlers.intents import Intent, IntentName, match

NAME = "absence"
ACTION = "ar:"

SEND_WORDS = frozenset({"gui", "gui don", "dong y", "ok", "co", "yes", "send", "xac nhan", "y"})
# "bỏ ảnh": the files attached to the request go (issue 17)
DROP_FILES_WORDS = frozenset(
    {
        "bo anh",
        "xoa anh",
        "bo giay to",
        "xoa giay to",
        "bo file",
        "xoa file",
        "bo tep",
        "remove files",
        "remove photo",
        "remove photos",
    }
)
MAX_FILES = 3  # photos or documents with one request (a medical certificate, issue 17)


class Step(enum.StrEnum):
    CHILD = "child"  # several children: which one
    DATES = "dates"  # which day(s)
    SESSION = "session"  # sáng / chiều / cả ngày
    REASON = "reason"  # why (free text, 1..300 characters)
    CONFIRM = "confirm"  # the summary: send or cancel


Handler = Callable[[Turn], Awaitable[list[Reply]]]


# --- entry ----------------------------------------------------------------------------------


async def start(turn: Turn, *, text: str = "", attached: Attachment | None = None) -> list[Reply]:
    """``/nghiphep``, "xin nghỉ", or a whole sentence ("xin nghỉ cho cháu ngày mai vì ốm"),
    also as the caption of a photo or document (``attached``: a medical certificate)."""
    links = await turn.guardian_links()
    if not links:
        if any(link.role is LinkRole.STAFF for link in await turn.links()):
            return [Reply(text=turn.t("query.parents_only"))]
        return [Reply(text=turn.t("query.not_linked"))]
    turn.state.clear_dialog()
    turn.state.dialog = NAME
    turn.state.data = {}
    children = await linked_children(turn)
    if len(children) == 1:
        _set_child(turn, children[0])
    else:
        folded = fold(text)
        named = [c for c in children if mentions(folded, c)]
        if len(named) == 1:
            _set_child(turn, named[0])
    notes = [_add_file(turn, attached)] if attached is not None else []
    notes += _absorb(turn, text, whole_reason=False)
    return await _next(turn, notes)


async def handle(turn: Turn) -> list[Reply]:
    if turn.action == f"{ACTION}cancel":
        turn.state.clear_dialog()
        return [Reply(text=turn.t("common.cancelled"), edit=True)]
    if turn.action == f"{ACTION}nofiles" or (
        not turn.action and _files(turn) and fold(turn.text).strip(" .!") in DROP_FILES_WORDS
    ):
        count = len(_files(turn))
        turn.state.data.pop("files", None)
        return await _next(turn, [turn.t("absence.files_dropped", count=count)])
    step = Step(turn.state.step or Step.CHILD)
    return await TRANSITIONS[step](turn)


def reminder(turn: Turn) -> list[Reply]:
    step = Step(turn.state.step or Step.CHILD)
    return [Reply(text=turn.t(f"absence.remind_{step.value}"), buttons=((_cancel_button(turn),),))]


# --- a medical certificate (issue 17) -------------------------------------------------------


def takes_attachment(turn: Turn) -> bool:
    """A photo or document is this dialog's when the request is being written, or when its
    caption asks for leave ("cho cháu nghỉ thứ 5 vì ốm"), on a channel that passes files on."""
    caps = turn.services.capabilities.get(turn.key.channel)
    if caps is None or not caps.attachments or turn.incoming.attachment is None:
        return False
    if turn.state.dialog == NAME:
        return True
    return turn.state.dialog is None and match(turn.text).name is IntentName.ABSENCE


async def on_attachment(turn: Turn) -> list[Reply]:
    """The file goes with the request (up to :data:`MAX_FILES`, within the limits the
    relayed messages have); a caption is read like typed text for the missing slots."""
    attached = turn.incoming.attachment
    assert attached is not None
    if turn.state.dialog != NAME:
        return await start(turn, text=turn.text, attached=attached)
    notes = [_add_file(turn, attached)]
    step = Step(turn.state.step or Step.CHILD)
    if turn.text and step is Step.CHILD:
        folded = fold(turn.text)
        named = [c for c in await linked_children(turn) if mentions(folded, c)]
        if len(named) == 1:
            _set_child(turn, named[0])
    if turn.text:
        notes += _absorb(
            turn,
            turn.text,
            whole_reason=step is Step.REASON,
            overwrite=step is Step.CONFIRM,
        )
        turn.state.data.pop("_changed", None)
    return await _next(turn, notes)


def _files(turn: Turn) -> list[dict[str, object]]:
    found = turn.state.data.get("files")
    return [f for f in found if isinstance(f, dict)] if isinstance(found, list) else []


def _add_file(turn: Turn, attached: Attachment) -> str:
    """Keep ``attached`` with the request, or say politely why not."""
    problem = attachment_problem(attached.kind, attached.mime, attached.size)
    if problem is not None:
        return turn.t(f"absence.file_{problem}")
    files = _files(turn)
    if len(files) >= MAX_FILES:
        return turn.t("absence.file_too_many", max=MAX_FILES)
    files.append(dataclasses.asdict(attached))
    turn.state.data["files"] = files
    return turn.t("absence.file_added", count=len(files), max=MAX_FILES)


def attachments_of(files: Sequence[dict[str, object]]) -> tuple[Attachment, ...]:
    return tuple(a for f in files if (a := Attachment.from_dict(f)) is not None)


# --- steps ----------------------------------------------------------------------------------


async def _on_child(turn: Turn) -> list[Reply]:
    children = await linked_children(turn)
    chosen: Student | None = None
    if turn.action.startswith(f"{ACTION}child:"):
        wanted = turn.action.removeprefix(f"{ACTION}child:")
        chosen = next((c for c in children if c.id == wanted), None)
        if chosen is None:  # unlinked since the buttons were shown
            return [Reply(text=turn.t("button.not_yours"))]
    elif turn.text:
        folded = fold(turn.text)
        named = [c for c in children if mentions(folded, c)]
        chosen = named[0] if len(named) == 1 else None
    if chosen is None:
        turn.not_understood = bool(turn.text)  # another task typed here leaves (issue 19)
        return _ask_child(turn, children)
    _set_child(turn, chosen)
    notes = _absorb(turn, turn.text, whole_reason=False)
    return await _next(turn, notes)


async def _on_dates(turn: Turn) -> list[Reply]:
    text = turn.text
    if turn.action.startswith(f"{ACTION}day:"):
        text = turn.action.removeprefix(f"{ACTION}day:")
    if not text:
        return _ask_dates(turn, [])
    notes = _absorb(turn, text, whole_reason=False)
    if "start" not in turn.state.data and not notes:
        notes = [turn.t("absence.dates_unclear")]
    return await _next(turn, notes)


async def _on_session(turn: Turn) -> list[Reply]:
    if turn.action.startswith(f"{ACTION}session:"):
        turn.state.data["session"] = DaySession(turn.action.removeprefix(f"{ACTION}session:"))
        return await _next(turn, [])
    session = parse_session(turn.text)
    if session is None:
        turn.not_understood = True  # another task typed here leaves the request (issue 19)
        return _ask_session(turn, [turn.t("absence.session_unclear")])
    notes = _absorb(turn, turn.text, whole_reason=False)
    turn.state.data["session"] = session.value
    return await _next(turn, notes)


async def _on_reason(turn: Turn) -> list[Reply]:
    if turn.action.startswith(f"{ACTION}reason:"):
        reason = turn.t(f"absence.quick_reason_{turn.action.removeprefix(f'{ACTION}reason:')}")
    else:
        reason = parse_reason(turn.text) or turn.text
    problem = check_reason(reason)
    if problem is not None:
        return _ask_reason(turn, [turn.t(f"absence.reason_{problem}", limit=MAX_REASON)])
    turn.state.data["reason"] = " ".join(reason.split())
    return await _next(turn, [])


async def _on_confirm(turn: Turn) -> list[Reply]:
    if turn.action == f"{ACTION}send" or (
        not turn.action and fold(turn.text).strip(" .!") in SEND_WORDS
    ):
        return await _submit(turn)
    if turn.text:
        # A correction typed at the summary ("thứ 3 chứ không phải thứ 2", "chiều thôi").
        notes = _absorb(turn, turn.text, whole_reason=False, overwrite=True)
        if notes or turn.state.data.get("_changed"):
            turn.state.data.pop("_changed", None)
            return await _next(turn, notes)
    return _confirm(turn, [turn.t("absence.confirm_hint")])


TRANSITIONS: dict[Step, Handler] = {
    Step.CHILD: _on_child,
    Step.DATES: _on_dates,
    Step.SESSION: _on_session,
    Step.REASON: _on_reason,
    Step.CONFIRM: _on_confirm,
}


# --- filling the slots ----------------------------------------------------------------------


def _absorb(turn: Turn, text: str, *, whole_reason: bool, overwrite: bool = False) -> list[str]:
    """Read every slot ``text`` holds. Returns notes to show (e.g. why the dates were
    refused); accepted dates are checked at once."""
    if not text:
        return []
    data = turn.state.data
    said = extract(text, turn.today())
    notes: list[str] = []
    if said.start is not None and said.end is not None and (overwrite or "start" not in data):
        problem = check_dates(
            said.start,
            said.end,
            now_local=turn.local_now(),
            policy=turn.services.absence_policy,
        )
        if problem is None:
            changed = (
                data.get("start") != said.start.isoformat()
                or data.get("end") != said.end.isoformat()
            )
            data["start"], data["end"] = said.start.isoformat(), said.end.isoformat()
            if changed and overwrite:
                data["_changed"] = True
        else:
            notes.append(_date_problem(turn, problem[0], problem[1], said.start))
    elif said.start is None and (wrong := impossible_date(text, turn.today())) is not None:
        notes.append(turn.t("absence.not_a_date", date=wrong))
    if said.session is not None and (overwrite or "session" not in data):
        if data.get("session") != said.session.value and overwrite:
            data["_changed"] = True
        data["session"] = said.session.value
    reason = said.reason if not whole_reason else text
    if reason and (overwrite or "reason" not in data):
        problem_r = check_reason(reason)
        if problem_r is None:
            if data.get("reason") != reason and overwrite:
                data["_changed"] = True
            data["reason"] = " ".join(reason.split())
        else:
            notes.append(turn.t(f"absence.reason_{problem_r}", limit=MAX_REASON))
    return notes


def _date_problem(turn: Turn, problem: DateProblem, detail: str, start: dt.date) -> str:
    policy = turn.services.absence_policy
    return turn.t(
        f"absence.date_{problem.value}",
        detail=detail,
        max=policy.max_days,
        cutoff=policy.same_day_cutoff.strftime("%H:%M"),
        day=start.strftime("%d/%m"),
    )


async def _next(turn: Turn, notes: list[str]) -> list[Reply]:
    data = turn.state.data
    if "student_id" not in data:
        return _ask_child(turn, await linked_children(turn), notes)
    if "start" not in data:
        return _ask_dates(turn, notes)
    if "session" not in data:
        return _ask_session(turn, notes)
    if "reason" not in data:
        return _ask_reason(turn, notes)
    clash = await _overlap(turn)
    if clash is not None:
        data.pop("start", None)
        data.pop("end", None)
        return _ask_dates(turn, [*notes, turn.t("absence.overlap", id=clash)])
    return _confirm(turn, notes)


# --- questions ------------------------------------------------------------------------------


def _cancel_button(turn: Turn) -> Button:
    return Button(label=turn.t("button.cancel"), action=f"{ACTION}cancel")


def _with_notes(notes: list[str], text: str) -> str:
    return "\n".join([*notes, text]) if notes else text


def _ask_child(turn: Turn, children: list[Student], notes: list[str] | None = None) -> list[Reply]:
    turn.state.step = Step.CHILD
    rows = tuple((Button(label=child_label(c), action=f"{ACTION}child:{c.id}"),) for c in children)
    return [
        Reply(
            text=_with_notes(notes or [], turn.t("absence.ask_child")),
            buttons=(*rows, (_cancel_button(turn),)),
        )
    ]


def _ask_dates(turn: Turn, notes: list[str]) -> list[Reply]:
    turn.state.step = Step.DATES
    today = turn.today()
    policy = turn.services.absence_policy
    quick = []
    for label_key, offset in (("button.today", 0), ("button.tomorrow", 1)):
        day = today + dt.timedelta(days=offset)
        if check_dates(day, day, now_local=turn.local_now(), policy=policy) is None:
            quick.append(
                Button(label=turn.t(label_key), action=f"{ACTION}day:{day.strftime('%d/%m/%Y')}")
            )
    rows: list[tuple[Button, ...]] = [tuple(quick)] if quick else []
    rows.append((_cancel_button(turn),))
    child = turn.state.data.get("child_label", "")
    return [
        Reply(
            text=_with_notes(notes, turn.t("absence.ask_dates", child=child)),
            buttons=tuple(rows),
        )
    ]


def _ask_session(turn: Turn, notes: list[str]) -> list[Reply]:
    turn.state.step = Step.SESSION
    return [
        Reply(
            text=_with_notes(notes, turn.t("absence.ask_session")),
            buttons=(
                tuple(
                    Button(
                        label=turn.t(f"attendance.session_{s.value}"),
                        action=f"{ACTION}session:{s.value}",
                    )
                    for s in DaySession
                ),
                (_cancel_button(turn),),
            ),
        )
    ]


def _ask_reason(turn: Turn, notes: list[str]) -> list[Reply]:
    turn.state.step = Step.REASON
    question = turn.t("absence.ask_reason")
    caps = turn.services.capabilities.get(turn.key.channel)
    if caps is not None and caps.attachments:
        question += " " + turn.t("absence.file_hint")
    return [
        Reply(
            text=_with_notes(notes, question),
            buttons=(
                (
                    Button(
                        label=turn.t("absence.quick_reason_sick"), action=f"{ACTION}reason:sick"
                    ),
                    Button(
                        label=turn.t("absence.quick_reason_family"),
                        action=f"{ACTION}reason:family",
                    ),
                ),
                (_cancel_button(turn),),
            ),
        )
    ]


def _confirm(turn: Turn, notes: list[str]) -> list[Reply]:
    turn.state.step = Step.CONFIRM
    data = turn.state.data
    desk = absence.desk_of(turn)
    span = absence.span_text(
        desk,
        turn.locale,
        dt.date.fromisoformat(data["start"]),
        dt.date.fromisoformat(data["end"]),
        data["session"],
    )
    files = attachments_of(_files(turn))
    listed = "\n" + turn.t("absence.files_line", files=absence.files_text(desk, turn.locale, files))
    text = turn.t(
        "absence.summary",
        child=data["child_label"],
        span=span,
        reason=data["reason"],
        files=listed if files else "",
    )
    rows: tuple[tuple[Button, ...], ...] = (
        (
            Button(label=turn.t("button.send_request"), action=f"{ACTION}send"),
            _cancel_button(turn),
        ),
    )
    if files:
        rows += ((Button(label=turn.t("button.drop_files"), action=f"{ACTION}nofiles"),),)
    return [Reply(text=_with_notes(notes, text), buttons=rows, private_only=True)]


# --- sending ----------------------------------------------------------------------------------


async def _submit(turn: Turn) -> list[Reply]:
    data = dict(turn.state.data)
    links = await turn.guardian_links()
    link = next((lk for lk in links if lk.subject_id == data.get("student_id")), None)
    student = await turn.backend.get_student(data.get("student_id", "")) if link else None
    if link is None or student is None:  # unlinked in the meantime
        turn.state.clear_dialog()
        return [Reply(text=turn.t("button.not_yours"))]
    start, end = dt.date.fromisoformat(data["start"]), dt.date.fromisoformat(data["end"])
    problem = check_dates(
        start, end, now_local=turn.local_now(), policy=turn.services.absence_policy
    )
    if problem is not None:
        turn.state.data.pop("start", None)
        turn.state.data.pop("end", None)
        return _ask_dates(turn, [_date_problem(turn, problem[0], problem[1], start)])
    clash = await _overlap(turn)
    if clash is not None:
        turn.state.data.pop("start", None)
        turn.state.data.pop("end", None)
        return _ask_dates(turn, [turn.t("absence.overlap", id=clash)])
    request = await turn.uow.absences.create(
        school_id=turn.key.school_id,
        student_id=student.id,
        class_id=student.class_id,
        requester=turn.key,
        guardian_id=link.person_id,
        start_date=start,
        end_date=end,
        session=data["session"],
        reason=data["reason"],
        now=turn.now(),
        attachments=attachments_of(_files(turn)),
    )
    await turn.audit("absence.created", f"absence:{request.id}", files=len(request.attachments))
    turn.state.clear_dialog()
    desk = absence.desk_of(turn)
    teachers = await absence.homeroom_teachers(desk, student.class_id)
    reached = await absence.notify_deciders(
        desk,
        request,
        student,
        teachers,
        kind="absence.request",
        headline_key="absence.teacher_new",
    )
    if reached == 0:
        chief = await absence.deputy(desk)
        if chief is not None:
            reached = await absence.notify_deciders(
                desk,
                request,
                student,
                [chief],
                kind="absence.request",
                headline_key="absence.teacher_new",
            )
    names = ", ".join(t.full_name for t in teachers)
    key = "absence.sent" if reached else "absence.sent_unread"
    text = turn.t(key, id=request.id, child=child_label(student), teacher=names or "GVCN")
    if request.attachments:
        what = absence.files_text(desk, turn.locale, request.attachments)
        text += "\n" + turn.t("absence.files_line", files=what)
    return [
        Reply(
            text=text,
            buttons=(
                (
                    Button(
                        label=turn.t("button.cancel_request", id=request.id),
                        action=action(absence.ACTION, "cancel", request.id),
                    ),
                ),
            ),
            edit=True,
            private_only=True,
        )
    ]


async def _overlap(turn: Turn) -> int | None:
    data = turn.state.data
    start, end = dt.date.fromisoformat(data["start"]), dt.date.fromisoformat(data["end"])
    live = await turn.uow.absences.live_for_student(turn.key.school_id, data["student_id"])
    for other in live:
        if overlaps(
            start,
            end,
            DaySession(data["session"]),
            [(other.start_date, other.end_date, other.session)],
        ):
            return other.id
    return None


# --- children ---------------------------------------------------------------------------------


def _set_child(turn: Turn, child: Student) -> None:
    turn.state.data["student_id"] = child.id
    turn.state.data["child_label"] = child_label(child)


async def _asked(turn: Turn, intent: Intent) -> list[Reply]:
    return await start(turn, text=turn.text)


async def _from_menu(turn: Turn) -> list[Reply]:
    return await start(turn)


async def _about_absence(turn: Turn, intent: Intent) -> list[Reply]:
    """ "ai nghỉ hôm nay", "chuyên cần", "số buổi nghỉ của Huy": a teacher (who is not also
    a parent) means their class; a parent asking who is absent means a leave request; a
    parent asking about attendance gets their child's record."""
    staff = any(link.role is LinkRole.STAFF for link in await turn.links())
    staff_only = staff and not await turn.guardian_links()
    if intent.name is IntentName.ATTENDANCE and not staff_only:
        return await attendance.handle(turn, folded=intent.folded)
    if not staff:
        return await start(turn, text=turn.text)
    dates = parse_dates(intent.folded, turn.today())
    if intent.name is IntentName.ATTENDANCE and dates is None:
        return await absence.pupil_total(turn, intent.folded)
    return await absence.absent_on(turn, dates[0] if dates else turn.today())


FEATURE = dialog_feature(
    NAME,
    ACTION.rstrip(":"),
    handle,
    reminder,
    intents={
        IntentName.ABSENCE: _asked,
        IntentName.CLASS_ABSENT: _about_absence,
        IntentName.ATTENDANCE: _about_absence,
    },
    menu={"absence": _from_menu},
)
