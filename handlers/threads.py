"""Private messages between a parent and their child's teacher, relayed by the bot (issue 17).

The parent writes "nhắn cô chủ nhiệm: …", ``/message`` (``/nhantin``) or presses a button;
the teacher receives it through the outbox in their own chat, with the pupil's name and
class, the guardian's relation ("Mẹ") and a Reply button (``/traloi <id> …`` where a channel
has no buttons). Neither side ever sees the other's phone number or chat handle: the bot
carries the words and nothing else.

- Office hours: a message outside the teacher's hours waits in the outbox (not-before time)
  and the parent is told when it reaches the teacher; urgent topics (health, safety: the
  school's word list) go at once.
- Zalo OA reaches a parent only within 7 days of their last message: a reply outside that
  window goes by the school's SMS/ZNS fallback, or is held and released with the parent's
  next message. The teacher is told which.
- Abuse controls: a per-thread hourly limit for the parent; a teacher mutes a thread (the
  school's staff are told through the outbox).

Warning:
    Every reply, mute and button press is re-authorised: the thread must be the teacher's
    own (their staff id) and the pupil's class still theirs (homeroom, substitute or, where
    the school allows, subject class). A thread of another class answers like a missing one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from bot.domain.formatting import format_date
from bot.domain.models import Student, Teacher
from bot.domain.text import fold
from bot.domain.threads import (
    DEDUPE_PREFIX,
    WINDOW_CHANNELS,
    Delivery,
    OfficeHours,
    Sender,
    Thread,
    attachment_problem,
    hold_for,
    message_body,
    parse_command,
    parse_office_hours,
    window_open,
)
from bot.feature import Feature, action
from bot.messages import Attachment, Button, ConversationKey, Reply
from bot.ports import LinkRole, OutgoingMessage
from bot.turn import Turn, with_tokens
from handlers.absence import Desk, classes_in_charge, desk_of, homeroom_teachers, my_teachers
from handlers.common import child_label
from handlers.contact import how_to_reach, school_name
from handlers.intents import Intent, IntentName

log = logging.getLogger(__name__)

ACTION = "th"  # th:reply:<thread>, th:mute:<thread>, th:unmute:<thread>, th:write:<thread>
DIALOG = "teacher_message"  # dialogs/teacher_message.py
DIALOG_ACTION = "tm"
HOMEROOM_WORDS = ("chu nhiem", "gvcn", "homeroom")


# --- who is who ---------------------------------------------------------------------------


async def children(turn: Turn) -> list[Student]:
    """The pupils this chat is linked to as a guardian, as the school has them now."""
    seen: dict[str, Student] = {}
    for link in await turn.guardian_links():
        if link.subject_id in seen:
            continue
        student = await turn.backend.get_student(link.subject_id)
        if student is not None:
            seen[student.id] = student
    return list(seen.values())


async def teachers_for(turn: Turn, student: Student) -> list[Teacher]:
    """Whom a parent may write to about ``student``: the homeroom teacher (or the substitute
    standing in), then the class's subject teachers where the school allows it."""
    found = await homeroom_teachers(desk_of(turn), student.class_id)
    if turn.services.threads.subject_teachers:
        ids = {t.id for t in found}
        found += [
            t
            for t in await turn.backend.teachers()
            if student.class_id in t.subject_class_ids and t.id not in ids
        ]
    return found


async def _own_classes(desk: Desk, teacher: Teacher) -> set[str]:
    classes = await classes_in_charge(desk, teacher)
    return classes | set(teacher.subject_class_ids)


async def _my_thread(turn: Turn, thread_id: int | None) -> tuple[Thread, Teacher] | list[Reply]:
    """The thread and the teacher answering it, or the polite refusal."""
    teachers = await my_teachers(turn)
    if not teachers:
        return [Reply(text=turn.t("threads.teachers_only"))]
    if thread_id is None:
        return [Reply(text=turn.t("threads.reply_usage"))]
    thread = await turn.uow.threads.get(turn.key.school_id, thread_id)
    desk = desk_of(turn)
    for teacher in teachers:
        mine = thread is not None and thread.teacher_id == teacher.id
        if mine and thread is not None and thread.class_id in await _own_classes(desk, teacher):
            return thread, teacher
    await turn.audit("thread.forbidden", f"thread:{thread_id}")
    return [Reply(text=turn.t("threads.not_found", id=thread_id))]


async def _relation(turn: Turn, student: Student, guardian_id: str) -> str:
    for guardian in await turn.backend.guardians(student.id):
        if guardian.id == guardian_id and guardian.relation:
            return guardian.relation
    return turn.t("threads.a_parent")


async def _reach(turn: Turn) -> str:
    return how_to_reach(turn, await school_name(turn, turn.backend), turn.services.contact)


# --- the parent writes -----------------------------------------------------------------


async def start(turn: Turn, text: str, attached: Attachment | None = None) -> list[Reply]:
    """ "nhắn cô chủ nhiệm: …", ``/message …`` or the menu: find the child and the teacher,
    then send (or ask for what is missing)."""
    body = message_body(text) if text else ""
    kids = await children(turn)
    if not kids:
        if await my_teachers(turn):
            return [Reply(text=turn.t("threads.parents_only"))]
        return [Reply(text=turn.t("threads.link_first", reach=await _reach(turn)))]
    turn.state.clear_dialog()
    turn.state.dialog = DIALOG
    turn.state.data = {"body": body, "homeroom": any(w in fold(text) for w in HOMEROOM_WORDS)}
    if attached is not None:
        turn.state.data["attachment"] = dataclasses.asdict(attached)
    if len(kids) > 1:
        turn.state.step = "child"
        buttons = tuple(
            (Button(label=child_label(k), action=action(DIALOG_ACTION, "child", k.id)),)
            for k in kids
        )
        return [Reply(text=turn.t("threads.which_child"), buttons=buttons, private_only=True)]
    return await for_child(turn, kids[0])


async def for_child(turn: Turn, student: Student) -> list[Reply]:
    teachers = await teachers_for(turn, student)
    if not teachers:
        turn.state.clear_dialog()
        return [Reply(text=turn.t("threads.no_teacher", reach=await _reach(turn)))]
    turn.state.data["student_id"] = student.id
    homeroom = await homeroom_teachers(desk_of(turn), student.class_id)
    if len(teachers) > 1 and not turn.state.data.get("homeroom"):
        turn.state.step = "teacher"
        home_ids = {t.id for t in homeroom}
        buttons = tuple(
            (
                Button(
                    label=turn.t(
                        "threads.teacher_homeroom"
                        if t.id in home_ids
                        else "threads.teacher_subject",
                        name=t.full_name,
                    ),
                    action=action(DIALOG_ACTION, "teacher", t.id),
                ),
            )
            for t in teachers
        )
        return [
            Reply(text=turn.t("threads.which_teacher", child=student.given_name), buttons=buttons)
        ]
    return await for_teacher(turn, student, (homeroom or teachers)[0])


async def for_teacher(turn: Turn, student: Student, teacher: Teacher) -> list[Reply]:
    body = str(turn.state.data.get("body") or "")
    if not body:
        turn.state.step = "write"
        turn.state.data["student_id"] = student.id
        turn.state.data["teacher_id"] = teacher.id
        key = (
            "threads.what_to_say_file" if "attachment" in turn.state.data else "threads.what_to_say"
        )
        return [Reply(text=turn.t(key, teacher=teacher.full_name))]
    attached = attachment_in(turn.state.data)
    turn.state.clear_dialog()
    return await send_to_teacher(turn, student, teacher, body, attached)


def attachment_in(data: dict[str, object]) -> Attachment | None:
    """The photo or document kept in the dialog while the parent finishes the message."""
    return Attachment.from_dict(data.get("attachment"))


def by_public_url(attached: Attachment) -> bool:
    """A photo (or PDF) a platform gave as a public URL (Zalo), which a channel that takes
    attachments can fetch itself; a Telegram ``file_id`` is not one."""
    if not attached.file_id.startswith("https://"):
        return False
    return attached.kind == "photo" or attached.mime == "application/pdf"


async def on_attachment(turn: Turn) -> list[Reply]:
    """A photo or document in a private chat (Telegram): for a parent, the start (or the
    end) of a message to the teacher; within the school's size and type limits."""
    attached = turn.incoming.attachment
    assert attached is not None
    await release_held(turn)  # a parent on Zalo OA wrote: the window is open again
    parsed = parse_command(turn.text)
    if parsed is not None and parsed.verb == "reply":  # a caption "/traloi 12 …"
        turn.text = parsed.text
        if not parsed.text:
            begun = await begin_reply(turn, parsed.thread_id)
            if turn.state.dialog != DIALOG or turn.state.step != "reply":
                return begun  # not this teacher's thread: refused
        elif (problem := attachment_problem(attached.kind, attached.mime, attached.size)) is None:
            return await reply(turn, parsed.thread_id, parsed.text, attached)
        else:
            return [Reply(text=turn.t(f"threads.attachment_{problem}"))]
    if turn.state.dialog == DIALOG and turn.state.step == "reply":  # a teacher's answer
        return await _reply_attachment(turn, attached)
    if not await turn.guardian_links():
        return [Reply(text=turn.t("common.text_only"))]
    problem = attachment_problem(attached.kind, attached.mime, attached.size)
    if problem is not None:
        return [Reply(text=turn.t(f"threads.attachment_{problem}"))]
    if turn.state.dialog == DIALOG and turn.state.step == "write":
        turn.state.data["attachment"] = dataclasses.asdict(attached)
        if not turn.text:
            return [Reply(text=turn.t("threads.attachment_kept"))]
        turn.state.data["body"] = message_body(turn.text)
        student = next(
            (k for k in await children(turn) if k.id == turn.state.data.get("student_id")), None
        )
        teacher_id = turn.state.data.get("teacher_id")
        teacher = None
        if student is not None:
            found = await teachers_for(turn, student)
            teacher = next((t for t in found if t.id == teacher_id), None)
        if student is None or teacher is None:
            turn.state.clear_dialog()
            return [Reply(text=turn.t("button.stale"))]
        return await for_teacher(turn, student, teacher)
    return await start(turn, turn.text, attached)


async def _reply_attachment(turn: Turn, attached: Attachment) -> list[Reply]:
    """A teacher who pressed Reply sends a photo or document: with a caption it is the answer
    at once; without, it is kept until the teacher types the words that go with it."""
    problem = attachment_problem(attached.kind, attached.mime, attached.size)
    if problem is not None:
        return [Reply(text=turn.t(f"threads.attachment_{problem}"))]
    if not turn.text.strip():
        turn.state.data["attachment"] = dataclasses.asdict(attached)
        return [Reply(text=turn.t("threads.attachment_kept_reply"))]
    thread_id = int(str(turn.state.data.get("thread_id", 0) or 0))
    turn.state.clear_dialog()
    return await reply(turn, thread_id, turn.text, attached)


async def send_to_teacher(
    turn: Turn,
    student: Student,
    teacher: Teacher,
    body: str,
    attached: Attachment | None = None,
) -> list[Reply]:
    """Store the parent's message and queue it for every chat of the teacher."""
    guardian = next((g for g in await turn.guardian_links() if g.subject_id == student.id), None)
    if guardian is None:  # unlinked meanwhile (a forged or stale press)
        return [Reply(text=turn.t("threads.link_first", reach=await _reach(turn)))]
    if teacher not in await teachers_for(turn, student):
        return [Reply(text=turn.t("threads.no_teacher", reach=await _reach(turn)))]
    desk = desk_of(turn)
    links = await turn.uow.links.for_subject(
        school_id=turn.key.school_id, role=LinkRole.STAFF, subject_id=teacher.id
    )
    if not links:
        return [
            Reply(
                text=turn.t(
                    "threads.teacher_not_here", name=teacher.full_name, reach=await _reach(turn)
                )
            )
        ]
    now = turn.now()
    thread = await turn.uow.threads.open(
        school_id=turn.key.school_id,
        student_id=student.id,
        class_id=student.class_id,
        teacher_id=teacher.id,
        guardian_id=guardian.person_id,
        parent=turn.key,
        now=now,
    )
    if thread.muted_at is not None:
        return [Reply(text=turn.t("threads.muted_for_parent", reach=await _reach(turn)))]
    policy = turn.services.threads
    sent = await turn.uow.threads.count_since(
        thread.id, sender=Sender.PARENT, since=now - dt.timedelta(hours=1)
    )
    if sent >= policy.per_hour:
        await turn.audit("thread.rate_limited", f"thread:{thread.id}")
        return [Reply(text=turn.t("threads.rate_limited", limit=policy.per_hour))]
    hours = await office_hours(turn, teacher)
    hold = hold_for(body, now=now, tz=turn.services.timezone, hours=hours, policy=policy)
    message = await turn.uow.threads.add_message(
        thread,
        sender=Sender.PARENT,
        body=body,
        urgent=hold.urgent,
        status=Delivery.QUEUED,
        deliver_at=hold.at,
        now=now,
        attachment=attached.kind if attached is not None else "",
    )
    relation = await _relation(turn, student, guardian.person_id)
    file_missed = False
    for link in links:
        locale = await desk.locale_of(link.key)
        lines = [
            desk.t(
                locale,
                "threads.card_urgent" if hold.urgent else "threads.card",
                id=thread.id,
                relation=relation,
                child=child_label(student),
            ),
            body,
        ]
        buttons: tuple[tuple[Button, ...], ...] = ()
        if turn.services.can_show_buttons(link.key.channel):
            row = (
                Button(
                    label=desk.t(locale, "threads.button_reply"),
                    action=action(ACTION, "reply", thread.id),
                ),
                Button(
                    label=desk.t(locale, "threads.button_mute"),
                    action=action(ACTION, "mute", thread.id),
                ),
            )
            buttons = await with_tokens(turn.uow, link.key, (row,), now=now)
        else:
            lines.append(desk.t(locale, "threads.typed_hint", id=thread.id))
        # A file reference means something to the same bot only: passed on within the
        # parent's own channel (one bot per school), else the teacher is told it exists.
        relayed = None
        if attached is not None:
            caps = turn.services.capabilities.get(link.key.channel)
            if caps is not None and caps.attachments and link.key.channel == turn.key.channel:
                relayed = attached
            elif caps is not None and caps.attachments and by_public_url(attached):
                # Zalo's public media URL: re-sent as a picture (Telegram fetches it itself)
                relayed = attached
                lines.append(desk.t(locale, "threads.attachment_resent"))
            else:
                file_missed = True
                lines.append(desk.t(locale, "threads.attachment_elsewhere"))
        await turn.uow.outbox.enqueue(
            OutgoingMessage(
                recipient=link.key,
                kind="thread.message",
                text="\n".join(lines),
                dedupe_key=_dedupe(thread, message.id, link.key),
                buttons=buttons,
                urgent=hold.urgent,
                not_before=hold.at,
                locale=locale,
                attachment=relayed,
            ),
            now=now,
        )
    await turn.audit(
        "thread.sent", f"thread:{thread.id}", urgent=hold.urgent, held=hold.at is not None
    )
    if hold.urgent:
        text = turn.t("threads.sent_urgent", teacher=teacher.full_name, reach=await _reach(turn))
    elif hold.at is not None:
        local = hold.at.astimezone(turn.services.tz)
        text = turn.t(
            "threads.sent_later",
            teacher=teacher.full_name,
            hours=str(hours),
            at=f"{local:%H:%M} {format_date(local.date())}",
        )
    else:
        text = turn.t("threads.sent", teacher=teacher.full_name)
    if file_missed:
        text += "\n" + turn.t("threads.attachment_not_everywhere")
    return [Reply(text=text)]


async def office_hours(turn: Turn, teacher: Teacher) -> OfficeHours:
    own = await turn.uow.threads.office_hours(turn.key.school_id, teacher.id)
    policy = turn.services.threads
    return own or OfficeHours(start=policy.office_start, end=policy.office_end)


def _dedupe(thread: Thread, message_id: int, to: ConversationKey) -> str:
    return f"{DEDUPE_PREFIX}:{thread.school_id}:{thread.id}:{message_id}:{to.channel}:{to.user_id}"


# --- the teacher answers --------------------------------------------------------------------


async def begin_reply(turn: Turn, thread_id: int | None) -> list[Reply]:
    found = await _my_thread(turn, thread_id)
    if isinstance(found, list):
        return found
    thread, _ = found
    turn.state.clear_dialog()
    turn.state.dialog = DIALOG
    turn.state.step = "reply"
    turn.state.data = {"thread_id": thread.id}
    return [Reply(text=turn.t("threads.write_reply", id=thread.id))]


async def reply(
    turn: Turn, thread_id: int | None, body: str, attached: Attachment | None = None
) -> list[Reply]:
    """The teacher's answer, to the parent's chat (or held, or by the fallback), with the
    photo or document the teacher sent, where the parent's chat can take it."""
    body = body.strip()
    if not body:
        return await begin_reply(turn, thread_id)
    found = await _my_thread(turn, thread_id)
    if isinstance(found, list):
        return found
    thread, teacher = found
    now = turn.now()
    student = await turn.backend.get_student(thread.student_id)
    child = student.given_name if student is not None else ""
    if window_open(thread, now):
        status = Delivery.QUEUED
    elif turn.services.threads.zalo_fallback in ("sms", "zns"):
        status = Delivery.FALLBACK
    else:
        status = Delivery.HELD
    message = await turn.uow.threads.add_message(
        thread,
        sender=Sender.TEACHER,
        body=body[:1000],
        urgent=False,
        status=status,
        deliver_at=None,
        now=now,
        attachment=attached.kind if attached is not None else "",
    )
    # A file reference means something to the same bot only: passed on to the parent's
    # chat on the teacher's own channel, else the parent is told a file exists.
    relayed = None
    if attached is not None and status is Delivery.QUEUED:
        caps = turn.services.capabilities.get(thread.parent.channel)
        same = thread.parent.channel == turn.key.channel
        if caps is not None and caps.attachments and (same or by_public_url(attached)):
            relayed = attached  # by reference, or a Zalo URL the parent's app fetches
    if status is not Delivery.HELD:
        await queue_answer(
            turn,
            thread,
            message.id,
            teacher.full_name,
            child,
            body,
            attached=relayed,
            file_missed=attached is not None and relayed is None,
        )
    await turn.audit("thread.replied", f"thread:{thread.id}", delivery=status.value)
    key = {
        Delivery.QUEUED: "threads.reply_sent",
        Delivery.FALLBACK: "threads.reply_fallback",
        Delivery.HELD: "threads.reply_held",
    }[status]
    how = turn.services.threads.zalo_fallback.upper()
    text = turn.t(key, id=thread.id, child=child, how=how)
    if attached is not None and relayed is None:
        text += "\n" + turn.t("threads.reply_attachment_not_passed")
    return [Reply(text=text)]


async def queue_answer(
    turn: Turn,
    thread: Thread,
    message_id: int,
    teacher: str,
    child: str,
    body: str,
    *,
    attached: Attachment | None = None,
    file_missed: bool = False,
) -> None:
    desk = desk_of(turn)
    locale = await desk.locale_of(thread.parent)
    lines = [desk.t(locale, "threads.answer", teacher=teacher, child=child), body]
    if file_missed:
        lines.append(desk.t(locale, "threads.answer_attachment_elsewhere"))
    buttons: tuple[tuple[Button, ...], ...] = ()
    if turn.services.can_show_buttons(thread.parent.channel):
        row = (
            Button(
                label=desk.t(locale, "threads.button_write"),
                action=action(ACTION, "write", thread.id),
            ),
        )
        buttons = await with_tokens(turn.uow, thread.parent, (row,), now=turn.now())
    else:
        lines.append(desk.t(locale, "threads.parent_hint"))
    await turn.uow.outbox.enqueue(
        OutgoingMessage(
            recipient=thread.parent,
            kind="thread.answer",
            text="\n".join(lines),
            dedupe_key=_dedupe(thread, message_id, thread.parent),
            buttons=buttons,
            locale=locale,
            attachment=attached,
        ),
        now=turn.now(),
    )


async def release_held(turn: Turn) -> None:
    """A parent on a windowed channel (Zalo OA) wrote: the window is open again, so the
    replies held for them go now (with this very message's turn)."""
    if turn.key.channel not in WINDOW_CHANNELS:
        return
    await turn.uow.threads.parent_wrote(turn.key, now=turn.now())
    for thread, message in await turn.uow.threads.held_for(turn.key):
        teacher = next(
            (t for t in await turn.backend.teachers() if t.id == thread.teacher_id), None
        )
        student = await turn.backend.get_student(thread.student_id)
        await queue_answer(
            turn,
            thread,
            message.id,
            teacher.full_name if teacher else "",
            student.given_name if student else "",
            message.body,
        )
        await turn.uow.threads.mark(message.id, Delivery.RELEASED)


# --- muting, office hours ------------------------------------------------------------------


async def set_mute(turn: Turn, thread_id: int | None, *, muted: bool) -> list[Reply]:
    found = await _my_thread(turn, thread_id)
    if isinstance(found, list):
        return found
    thread, teacher = found
    if (thread.muted_at is not None) == muted:
        key = "threads.already_muted" if muted else "threads.not_muted"
        return [Reply(text=turn.t(key, id=thread.id))]
    await turn.uow.threads.set_muted(thread.id, muted=muted, now=turn.now())
    await turn.audit("thread.muted" if muted else "thread.unmuted", f"thread:{thread.id}")
    if muted:
        await _tell_school_staff(turn, thread, teacher)
    return [Reply(text=turn.t("threads.muted" if muted else "threads.unmuted", id=thread.id))]


async def _tell_school_staff(turn: Turn, thread: Thread, teacher: Teacher) -> None:
    """The school's staff (``school_staff``) hear of every muted thread."""
    desk = desk_of(turn)
    student = await turn.backend.get_student(thread.student_id)
    child = child_label(student) if student is not None else thread.class_id
    for code in sorted(turn.services.school_staff):
        admin = await turn.backend.find_teacher(code)
        if admin is None:
            continue
        links = await turn.uow.links.for_subject(
            school_id=turn.key.school_id, role=LinkRole.STAFF, subject_id=admin.id
        )
        for link in links:
            locale = await desk.locale_of(link.key)
            await turn.uow.outbox.enqueue(
                OutgoingMessage(
                    recipient=link.key,
                    kind="thread.muted",
                    text=desk.t(
                        locale,
                        "threads.admin_muted",
                        id=thread.id,
                        teacher=teacher.full_name,
                        child=child,
                    ),
                    dedupe_key=f"{DEDUPE_PREFIX}:{thread.school_id}:{thread.id}:mute:"
                    f"{turn.now():%Y%m%d%H%M%S}:{link.key.channel}:{link.key.user_id}",
                    locale=locale,
                ),
                now=turn.now(),
            )


async def set_hours(turn: Turn, text: str) -> list[Reply]:
    teachers = await my_teachers(turn)
    if not teachers:
        return [Reply(text=turn.t("threads.teachers_only"))]
    if not text.strip():
        current = await office_hours(turn, teachers[0])
        return [Reply(text=turn.t("threads.hours_now", hours=str(current)))]
    hours = parse_office_hours(text)
    if hours is None:
        return [Reply(text=turn.t("threads.hours_usage"))]
    for teacher in teachers:
        await turn.uow.threads.set_office_hours(
            turn.key.school_id, teacher.id, hours, now=turn.now()
        )
    await turn.audit("thread.office_hours")
    return [Reply(text=turn.t("threads.hours_set", hours=str(hours)))]


# --- how the router reaches this feature ----------------------------------------------------


async def command(turn: Turn, intent: Intent) -> list[Reply] | None:
    """Typed commands (``/message``, ``/traloi 12 …``, ``/mute 12``, ``/giolamviec 7-17``),
    answered anywhere. Every typed text of a parent on Zalo OA also releases held replies."""
    await release_held(turn)
    parsed = parse_command(turn.text)
    if parsed is None:
        return None
    if parsed.verb == "message":
        return await start(turn, parsed.text)
    if parsed.verb == "reply":
        return await reply(turn, parsed.thread_id, parsed.text)
    if parsed.verb in ("mute", "unmute"):
        return await set_mute(turn, parsed.thread_id, muted=parsed.verb == "mute")
    return await set_hours(turn, parsed.text)


async def to_teacher(turn: Turn, intent: Intent) -> list[Reply]:
    """ "nhắn cô chủ nhiệm: …": the message itself is in the text."""
    return await start(turn, turn.text)


async def on_button(turn: Turn, rest: str) -> list[Reply]:
    verb, _, number = rest.partition(":")
    thread_id = int(number) if number.isdigit() else None
    if verb == "reply":
        return await begin_reply(turn, thread_id)
    if verb in ("mute", "unmute"):
        return await set_mute(turn, thread_id, muted=verb == "mute")
    if verb == "write" and thread_id is not None:
        return await write_again(turn, thread_id)
    return [Reply(text=turn.t("button.stale"))]


async def write_again(turn: Turn, thread_id: int) -> list[Reply]:
    """The parent's "write to the teacher again" under an answer."""
    thread = await turn.uow.threads.get(turn.key.school_id, thread_id)
    if thread is None or (thread.parent.channel, thread.parent.user_id) != (
        turn.key.channel,
        turn.key.user_id,
    ):
        return [Reply(text=turn.t("button.stale"))]
    student = await turn.backend.get_student(thread.student_id)
    teacher = next((t for t in await turn.backend.teachers() if t.id == thread.teacher_id), None)
    if student is None or teacher is None:
        return [Reply(text=turn.t("button.stale"))]
    turn.state.dialog = DIALOG
    turn.state.data = {"body": ""}
    return await for_teacher(turn, student, teacher)


async def from_menu(turn: Turn) -> list[Reply]:
    return await start(turn, "")


FEATURE = Feature(
    name="threads",
    commands=(command,),
    intents={IntentName.TO_TEACHER: to_teacher},
    actions={ACTION: on_button},
    menu={"message": from_menu},
)
