"""Linking a chat to a student (parent) or to a staff record (teacher), proved by an OTP.

See ``verify_parent.mmd`` for the diagram. The user types the student code (or a teacher
their staff code); if the student has several guardians on file they choose which phone gets
the code (shown masked); they accept the personal-data terms (Decree 13/2023, Law 91/2025);
the code is sent to the phone the school has on file, never to a number the user types; the
user types it back and is linked.

Warning:
    Run only inside the router's per-conversation lock: the steps read and write
    ``turn.state`` and the OTP row without further locking.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import math
from collections.abc import Awaitable, Callable

from bot.domain.errors import BackendError, OtpDeliveryFailed
from bot.domain.otp import (
    CodeCheck,
    check_code,
    extract_code,
    generate_code,
    hash_code,
    lock_after_failure,
    seconds_until_resend,
)
from bot.domain.phone import mask_phone, normalize_phone
from bot.domain.text import fold
from bot.feature import dialog_feature
from bot.messages import Button, Reply
from bot.ports import LinkRole, OtpChallenge
from bot.turn import CONSENT_VERSION, Turn
from handlers.contact import how_to_reach, school_name
from handlers.intents import Intent, IntentName
from handlers.menus import main_menu, teacher_menu

log = logging.getLogger(__name__)

NAME = "verify"
# Audit actions the OTP guard counts (bot/domain/otp.py). Subjects are opaque ids:
# "p:<guardian or teacher id>" for a phone on file, "s:<student or teacher id>" for a record.
SENT = "verify.otp_sent"
WRONG = "verify.otp_wrong"
UNKNOWN = "verify.unknown_code"
UNLOCK = "otp.unlock"
USED = "verify.otp_used"  # the phone's code was typed back: no cooldown for the next one
MAX_CODE_LENGTH = 32

AGREE_WORDS = frozenset({"dong y", "co", "ok", "yes", "agree", "y", "đong y"})
DECLINE_WORDS = frozenset({"khong", "khong dong y", "no", "decline", "n"})


class Step(enum.StrEnum):
    ASK_CODE = "ask_code"  # waiting for a student code (parent) or a staff code (teacher)
    CHOOSE_PHONE = "choose_phone"  # several guardians on file: which phone gets the code
    ASK_CONSENT = "ask_consent"  # personal-data terms shown: agree or decline
    ASK_OTP = "ask_otp"  # code sent: waiting for the 6 digits


Handler = Callable[[Turn], Awaitable[list[Reply]]]


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(label=turn.t("button.cancel"), action="v:cancel"),)


def _otp_row(turn: Turn) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button(label=turn.t("button.resend"), action="v:resend"),
            Button(label=turn.t("button.cancel"), action="v:cancel"),
        ),
    )


async def start(turn: Turn, code: str = "", *, offer_roles: bool = False) -> list[Reply]:
    """Begin linking; with ``code`` the user already typed it, so look it up at once.
    ``offer_roles`` (the greeting of ``/start``) adds "I am a parent" / "I am a teacher";
    a code typed instead is understood just the same."""
    turn.state.clear_dialog()
    turn.state.dialog = NAME
    turn.state.step = Step.ASK_CODE
    if code:
        turn.text = code
        return await _on_code(turn)
    if offer_roles:
        return [
            Reply(
                text=turn.t("verify.ask_code") + _demo_hint(turn),
                buttons=(
                    (
                        Button(label=turn.t("button.i_am_parent"), action="v:role:parent"),
                        Button(label=turn.t("button.i_am_teacher"), action="v:role:teacher"),
                    ),
                ),
            )
        ]
    return [Reply(text=turn.t("verify.ask_code") + _demo_hint(turn))]


def _demo_hint(turn: Turn) -> str:
    return "\n" + turn.t("verify.demo_hint") if turn.key.school_id == "demo" else ""


async def handle(turn: Turn) -> list[Reply]:
    if turn.action == "v:cancel":
        turn.state.clear_dialog()
        return [Reply(text=turn.t("common.cancelled"), edit=True)]
    if turn.action in {"v:role:parent", "v:role:teacher"}:
        turn.state.step = Step.ASK_CODE
        if turn.action.endswith("teacher"):  # addressed as "thầy/cô" from here (issue 19)
            turn.state.data["role"] = LinkRole.STAFF.value
        key = (
            "verify.ask_student_code" if turn.action.endswith("parent") else "verify.ask_staff_code"
        )
        hint = _demo_hint(turn) if key == "verify.ask_student_code" else ""
        return [Reply(text=turn.t(key) + hint, buttons=(_cancel_row(turn),), edit=True)]
    step = Step(turn.state.step or Step.ASK_CODE)
    return await TRANSITIONS[step](turn)


def reminder(turn: Turn) -> list[Reply]:
    """What to say when the user does something else in the middle of linking."""
    step = Step(turn.state.step or Step.ASK_CODE)
    key = {
        Step.ASK_CODE: "verify.remind_code",
        Step.CHOOSE_PHONE: "verify.remind_phone",
        Step.ASK_CONSENT: "verify.remind_consent",
        Step.ASK_OTP: "verify.remind_otp",
    }[step]
    buttons: tuple[tuple[Button, ...], ...] = (_cancel_row(turn),)
    if step is Step.ASK_OTP:
        buttons = _otp_row(turn)
    elif step is Step.ASK_CONSENT:
        buttons = _consent_rows(turn)
    return [Reply(text=turn.t(key), buttons=buttons)]


# --- step: the code ---------------------------------------------------------------------


async def _on_code(turn: Turn) -> list[Reply]:
    code = "".join(turn.text.split())
    if turn.action or not code:
        return [Reply(text=turn.t("verify.ask_code") + _demo_hint(turn))]
    if len(code) > MAX_CODE_LENGTH or not code.isalnum():
        return [Reply(text=turn.t("verify.code_malformed"), buttons=(_cancel_row(turn),))]
    policy = turn.services.otp_policy
    since = turn.now() - dt.timedelta(hours=1)
    lookups = await turn.uow.audit.count(
        school_id=turn.key.school_id, actor=turn.actor, action="verify.lookup", since=since
    )
    if lookups >= policy.code_lookups_per_hour:
        turn.state.clear_dialog()
        return [Reply(text=turn.t("verify.too_many_lookups"))]
    unknown_limit = policy.unknown_codes_per_hour
    school_unknown = await turn.uow.audit.count(
        school_id=turn.key.school_id, action=UNKNOWN, since=turn.now() - dt.timedelta(days=1)
    )
    if school_unknown >= policy.unknown_codes_per_school_per_day:
        unknown_limit = 1  # someone is walking the school's codes: one miss per chat an hour
    unknown = await turn.uow.audit.count(
        school_id=turn.key.school_id, actor=turn.actor, action=UNKNOWN, since=since
    )
    if unknown >= unknown_limit:
        turn.state.clear_dialog()
        return [Reply(text=turn.t("otp_guard.too_many_unknown"))]
    await turn.audit("verify.lookup")  # counts tries; the code itself is never stored

    student = await turn.backend.find_student(code)
    if student is not None:
        if any(link.subject_id == student.id for link in await turn.guardian_links()):
            turn.state.clear_dialog()
            return [
                Reply(
                    text=turn.t("verify.already_linked", child=student.full_name),
                    buttons=main_menu(turn),
                )
            ]
        guardians = [
            g for g in await turn.backend.guardians(student.id) if normalize_phone(g.phone)
        ]
        if not guardians:
            turn.state.clear_dialog()
            return [Reply(text=turn.t("verify.no_phone_on_file"))]
        # Until the code is typed back the chat sees the relation and the masked phone only,
        # never the pupil's name or class (issue 13.4: codes are easy to guess).
        turn.state.data = {
            "role": LinkRole.GUARDIAN.value,
            "subject_id": student.id,
            "label": f"{student.full_name} ({student.class_name})",  # shown once linked
            "phones": {g.id: _masked(g.phone) for g in guardians},
            "relations": {g.id: g.relation for g in guardians},
        }
        if len(guardians) == 1:
            turn.state.data["person_id"] = guardians[0].id
            return _ask_consent(turn)
        turn.state.step = Step.CHOOSE_PHONE
        rows = tuple(
            (
                Button(
                    label=f"{_masked(g.phone)} ({g.relation})" if g.relation else _masked(g.phone),
                    action=f"v:phone:{g.id}",
                ),
            )
            for g in guardians
        )
        return [
            Reply(
                text=turn.t("verify.choose_phone"),
                buttons=(*rows, _cancel_row(turn)),
            )
        ]

    teacher = await turn.backend.find_teacher(code)
    if teacher is not None and normalize_phone(teacher.phone):
        if any(
            link.role is LinkRole.STAFF and link.subject_id == teacher.id
            for link in await turn.links()
        ):
            turn.state.clear_dialog()
            return [Reply(text=turn.t("verify.already_linked_staff", name=teacher.full_name))]
        turn.state.data = {
            "role": LinkRole.STAFF.value,
            "subject_id": teacher.id,
            "person_id": teacher.id,
            "label": teacher.full_name,
            "phones": {teacher.id: _masked(teacher.phone)},
        }
        return _ask_consent(turn)

    await turn.audit(UNKNOWN)  # for the school's eyes; the code typed is not kept
    if school_unknown + 1 == policy.unknown_codes_per_school_per_day:
        log.warning(
            "school %s: %d unknown student codes typed in 24 hours; someone may be guessing",
            turn.key.school_id,
            school_unknown + 1,
        )
    elsewhere = await _other_school(turn, code)
    if elsewhere is not None:
        turn.state.clear_dialog()
        return [Reply(text=elsewhere)]
    return [Reply(text=turn.t("verify.code_not_found"), buttons=(_cancel_row(turn),))]


async def _other_school(turn: Turn, code: str) -> str | None:
    """When ``code`` is a pupil of another school this process serves: which school, and
    its own bot or phone (one chat holds the children of one school: each school has its own
    bot). Only the school is said, never the pupil's name or anything else about the child:
    this parent is not verified there. Counted like any unknown code (the caller's audit),
    so it opens no wider door for guessing."""
    for school_id in turn.services.profiles:
        if school_id == turn.key.school_id:
            continue
        try:
            backend = turn.services.backends.for_school(school_id)
            if await backend.find_student(code) is None:
                continue
        except (KeyError, BackendError):
            continue  # that school's system is down: say "not found", as before
        await turn.audit("verify.other_school")
        name = await school_name(turn, backend)
        contact = turn.services.profiles[school_id].contact
        telegram = f"https://t.me/{contact.telegram_username}" if contact.telegram_username else ""
        links = [contact.zalo_link, telegram]  # the link for this chat's platform first
        if turn.key.channel == "telegram":
            links.reverse()
        link = next((x for x in links if x), "")
        if link:
            where = turn.t("verify.other_school_link", school=name, link=link)
        else:
            where = turn.t("verify.other_school_ask", reach=how_to_reach(turn, name, contact))
        return turn.t("verify.other_school", school=name, where=where)
    return None


def _masked(phone: str) -> str:
    normal = normalize_phone(phone)
    return mask_phone(normal) if normal else "***"


# --- step: which phone ------------------------------------------------------------------


async def _on_choose_phone(turn: Turn) -> list[Reply]:
    phones: dict[str, str] = turn.state.data.get("phones", {})
    chosen = ""
    if turn.action.startswith("v:phone:"):
        chosen = turn.action.removeprefix("v:phone:")
    if chosen not in phones:
        return reminder(turn)
    turn.state.data["person_id"] = chosen
    return _ask_consent(turn)


# --- step: consent ----------------------------------------------------------------------


def _ask_consent(turn: Turn) -> list[Reply]:
    turn.state.step = Step.ASK_CONSENT
    data = turn.state.data
    phone = data["phones"][data["person_id"]]
    if data["role"] == LinkRole.STAFF:
        text = turn.t("verify.consent_staff", who=data["label"], phone=phone)
    else:
        relation = data.get("relations", {}).get(data["person_id"]) or turn.t("otp_guard.guardian")
        text = turn.t("verify.consent", who=relation, phone=phone)
    return [
        Reply(
            text=text,
            buttons=_consent_rows(turn),
        )
    ]


def _consent_rows(turn: Turn) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button(label=turn.t("button.agree"), action="v:agree"),
            Button(label=turn.t("button.decline"), action="v:decline"),
        ),
    )


async def _on_consent(turn: Turn) -> list[Reply]:
    answer = fold(turn.text)
    if turn.action == "v:decline" or answer in DECLINE_WORDS:
        staff = turn.state.data.get("role") == LinkRole.STAFF
        turn.state.clear_dialog()
        key = "verify.declined_staff" if staff else "verify.declined"
        return [Reply(text=turn.t(key), edit=bool(turn.action))]
    if turn.action == "v:agree" or answer in AGREE_WORDS:
        turn.state.data["consent_at"] = turn.now().isoformat()
        return await _send_code(turn, resend=False)
    return reminder(turn)


async def _send_code(turn: Turn, *, resend: bool) -> list[Reply]:
    data = turn.state.data
    policy = turn.services.otp_policy
    person_id: str = data["person_id"]
    now = turn.now()
    locked = await _guess_lock(turn, data["subject_id"])
    if locked is not None:
        if await turn.uow.otps.latest(turn.key) is not None:
            turn.state.step = Step.ASK_OTP  # the open code stays locked too
        return locked
    refused = await _send_refused(turn, person_id)
    if refused is not None:
        return refused
    phone = await _phone_on_file(turn)
    if phone is None:
        turn.state.clear_dialog()
        return [Reply(text=turn.t("verify.no_phone_on_file"))]
    code = generate_code(policy.length)
    minutes = int(policy.ttl.total_seconds() // 60)
    try:
        await turn.services.otp_sender.send(
            phone=phone,
            text=turn.t(
                # a teacher is not told to keep the code from teachers (issue 19)
                "sms.otp_staff" if turn.state.data.get("role") == LinkRole.STAFF else "sms.otp",
                code=code,
                minutes=minutes,
            ),
        )
    except OtpDeliveryFailed:
        # Not sent: nothing stored, no attempt used; the user may try again.
        await turn.audit("verify.otp_send_failed")
        retry = "v:resend" if resend else "v:agree"
        return [
            Reply(
                text=turn.t("verify.otp_send_failed"),
                buttons=(
                    (
                        Button(label=turn.t("button.retry"), action=retry),
                        Button(label=turn.t("button.cancel"), action="v:cancel"),
                    ),
                ),
            )
        ]
    code_hash = hash_code(turn.services.secret, _scope(turn, person_id), code)
    expires = now + policy.ttl
    # Starting again re-sends to the open challenge: its wrong tries are kept.
    latest = await turn.uow.otps.latest(turn.key)
    if latest is not None and (latest.subject_id, latest.person_id) == (
        data["subject_id"],
        person_id,
    ):
        await turn.uow.otps.record_resend(
            latest.id, code_hash=code_hash, now=now, expires_at=expires
        )
    else:
        await turn.uow.otps.create(
            key=turn.key,
            role=LinkRole(data["role"]),
            subject_id=data["subject_id"],
            person_id=person_id,
            code_hash=code_hash,
            now=now,
            expires_at=expires,
        )
    await turn.audit(SENT, f"p:{person_id}")
    await _watch_school_bill(turn)
    turn.state.step = Step.ASK_OTP
    return [
        Reply(
            text=turn.t("verify.otp_sent", phone=data["phones"][person_id], minutes=minutes),
            buttons=_otp_row(turn),
        )
    ]


async def _since(turn: Turn, delta: dt.timedelta, subject: str) -> dt.datetime:
    """The start of a counting window, or the school's last unlock of ``subject`` if later."""
    start = turn.now() - delta
    unlocked = await turn.uow.audit.last_at(
        school_id=turn.key.school_id, action=UNLOCK, subject=subject
    )
    return max(start, unlocked) if unlocked is not None else start


async def _guess_lock(turn: Turn, subject_id: str) -> list[Reply] | None:
    """This chat's lock on this record (its own wrong codes, over every code it asked for),
    or the record's lock for every chat (wrong codes of all chats in a day)."""
    policy = turn.services.otp_policy
    audit, school, subject = turn.uow.audit, turn.key.school_id, f"s:{subject_id}"
    since = await _since(turn, policy.lockout, subject)
    mine = await audit.count(
        school_id=school, actor=turn.actor, action=WRONG, subject=subject, since=since
    )
    if mine >= policy.max_attempts:
        last = await audit.last_at(
            school_id=school, action=WRONG, subject=subject, actor=turn.actor
        )
        until = (last or turn.now()) + policy.lockout
        text = turn.t("verify.otp_locked", until=_local_time(turn, until))
        return [Reply(text=text, buttons=_otp_row(turn))]
    day = await _since(turn, dt.timedelta(days=1), subject)
    everyone = await audit.count(school_id=school, action=WRONG, subject=subject, since=day)
    if everyone >= policy.wrong_codes_per_student_per_day:
        return [Reply(text=turn.t("otp_guard.record_locked"), buttons=(_cancel_row(turn),))]
    return None


async def _send_refused(turn: Turn, person_id: str) -> list[Reply] | None:
    """Why no code may go to this phone now, or None. The caps keep a stranger from flooding
    a parent's phone or the school's SMS bill; none of them is this chat's lock-out."""
    policy = turn.services.otp_policy
    audit, school, phone = turn.uow.audit, turn.key.school_id, f"p:{person_id}"
    masked = turn.state.data.get("phones", {}).get(person_id, "")
    last = await audit.last_at(school_id=school, action=SENT, subject=phone)
    used = await audit.last_at(school_id=school, action=USED, subject=phone)
    if last is not None and (used is None or used < last):  # the last code is still out
        wait = seconds_until_resend(last, now=turn.now(), policy=policy)
        if wait > 0:
            latest = await turn.uow.otps.latest(turn.key)
            if (
                latest is not None
                and latest.person_id == person_id
                and latest.expires_at > turn.now()
            ):  # started again: the code already on its way still works
                turn.state.step = Step.ASK_OTP
                text = turn.t("otp_guard.already_sent", phone=masked, seconds=wait)
                return [Reply(text=text, buttons=_otp_row(turn))]
            return [Reply(text=turn.t("verify.resend_wait", seconds=wait))]
    hour = await _since(turn, dt.timedelta(hours=1), phone)
    day = await _since(turn, dt.timedelta(days=1), phone)
    if (
        await audit.count(
            school_id=school, actor=turn.actor, action=SENT, subject=phone, since=hour
        )
        >= policy.max_sends_per_hour
    ):
        return [Reply(text=turn.t("otp_guard.phone_hour", phone=masked))]
    if await audit.count(school_id=school, action=SENT, subject=phone, since=day) >= (
        policy.max_sends_per_day
    ):
        return [Reply(text=turn.t("otp_guard.phone_day", phone=masked))]
    phones = await audit.distinct_subjects(
        school_id=school, actor=turn.actor, action=SENT, since=turn.now() - dt.timedelta(days=1)
    )
    if phone not in phones and len(phones) >= policy.phones_per_chat_per_day:
        return [Reply(text=turn.t("otp_guard.too_many_phones"))]
    school_sent = await audit.count(
        school_id=school, action=SENT, since=turn.now() - dt.timedelta(days=1)
    )
    if school_sent >= policy.school_sends_per_day:
        log.warning("school %s reached its %d OTP SMS a day", school, policy.school_sends_per_day)
        return [Reply(text=turn.t("otp_guard.school_cap"))]
    return None


async def _watch_school_bill(turn: Turn) -> None:
    """A warning in the log when the school's daily OTP SMS pass the alert share."""
    policy = turn.services.otp_policy
    sent = await turn.uow.audit.count(
        school_id=turn.key.school_id, action=SENT, since=turn.now() - dt.timedelta(days=1)
    )
    alert = math.ceil(policy.school_sends_per_day * policy.school_alert_ratio)
    if sent == alert or (sent > alert and sent % 10 == 0):
        log.warning(
            "school %s has sent %d of its %d OTP SMS allowed in 24 hours",
            turn.key.school_id,
            sent,
            policy.school_sends_per_day,
        )


async def _phone_on_file(turn: Turn) -> str | None:
    """Look the phone up again at send time: the school's record, never a typed number."""
    data = turn.state.data
    if data["role"] == LinkRole.STAFF:
        teachers = [t for t in await turn.backend.teachers() if t.id == data["person_id"]]
        return normalize_phone(teachers[0].phone) if teachers else None
    for g in await turn.backend.guardians(data["subject_id"]):
        if g.id == data["person_id"]:
            return normalize_phone(g.phone)
    return None


def _scope(turn: Turn, person_id: str) -> str:
    return f"{turn.key}|{person_id}"


# --- step: the code from the SMS -------------------------------------------------------


async def _on_otp(turn: Turn) -> list[Reply]:
    policy = turn.services.otp_policy
    challenge = await turn.uow.otps.latest(turn.key)
    if challenge is None:
        turn.state.step = Step.ASK_CODE
        staff = turn.state.data.get("role") == LinkRole.STAFF
        return [Reply(text=turn.t("verify.session_lost_staff" if staff else "verify.session_lost"))]
    now = turn.now()
    if turn.action == "v:resend":
        return await _resend(turn, challenge)
    code = extract_code(turn.text, policy.length)
    if code is None:
        return reminder(turn)
    locked = await _guess_lock(turn, challenge.subject_id)
    if locked is not None:
        return locked
    outcome = check_code(
        secret=turn.services.secret,
        scope=_scope(turn, challenge.person_id),
        code=code,
        code_hash=challenge.code_hash,
        expires_at=challenge.expires_at,
        locked_until=None,  # the guard above decides: its counts outlive the challenge
        now=now,
    )
    if outcome is CodeCheck.LOCKED:
        return [Reply(text=_locked_text(turn, challenge), buttons=_otp_row(turn))]
    if outcome is CodeCheck.EXPIRED:
        return [Reply(text=turn.t("verify.otp_expired"), buttons=_otp_row(turn))]
    if outcome is CodeCheck.WRONG:
        subject = f"s:{challenge.subject_id}"
        since = await _since(turn, policy.lockout, subject)
        before = await turn.uow.audit.count(
            school_id=turn.key.school_id,
            actor=turn.actor,
            action=WRONG,
            subject=subject,
            since=since,
        )
        tries = before
        locked_until = lock_after_failure(tries, now=now, policy=policy)
        await turn.uow.otps.record_failure(challenge.id, locked_until=locked_until)
        await turn.audit(WRONG, subject)
        if locked_until is not None:
            text = turn.t("verify.otp_locked", until=_local_time(turn, locked_until))
            return [Reply(text=text, buttons=_otp_row(turn))]
        left = policy.max_attempts - tries - 1
        return [Reply(text=turn.t("verify.otp_wrong", left=left), buttons=_otp_row(turn))]
    return await _link(turn, challenge)


async def _resend(turn: Turn, challenge: OtpChallenge) -> list[Reply]:
    now = turn.now()
    locked = await _guess_lock(turn, challenge.subject_id)
    if locked is not None:
        return locked
    wait = seconds_until_resend(challenge.last_sent_at, now=now, policy=turn.services.otp_policy)
    if wait > 0:
        return [Reply(text=turn.t("verify.resend_wait", seconds=wait), buttons=_otp_row(turn))]
    return await _send_code(turn, resend=True)


def _locked_text(turn: Turn, challenge: OtpChallenge) -> str:
    assert challenge.locked_until is not None
    return turn.t("verify.otp_locked", until=_local_time(turn, challenge.locked_until))


def _local_time(turn: Turn, at: dt.datetime) -> str:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(turn.services.timezone)).strftime("%H:%M")


async def _link(turn: Turn, challenge: OtpChallenge) -> list[Reply]:
    now = turn.now()
    data = turn.state.data
    consent_at = dt.datetime.fromisoformat(data.get("consent_at") or now.isoformat())
    await turn.uow.otps.consume(challenge.id, now=now)
    link = await turn.uow.links.add(
        key=turn.key,
        role=challenge.role,
        subject_id=challenge.subject_id,
        person_id=challenge.person_id,
        consent_version=CONSENT_VERSION,
        consent_at=consent_at,
        verified_at=now,
    )
    await turn.audit("verify.linked", subject=str(link.id), role=link.role.value)
    await turn.audit(USED, f"p:{challenge.person_id}")
    turn.forget_cached_links()
    label = data.get("label", "")
    turn.state.clear_dialog()
    if challenge.role is LinkRole.STAFF:
        return [Reply(text=turn.t("verify.linked_staff", name=label), buttons=teacher_menu(turn))]
    return [Reply(text=turn.t("verify.linked", child=label), buttons=main_menu(turn))]


TRANSITIONS: dict[Step, Handler] = {
    Step.ASK_CODE: _on_code,
    Step.CHOOSE_PHONE: _on_choose_phone,
    Step.ASK_CONSENT: _on_consent,
    Step.ASK_OTP: _on_otp,
}


async def _link_another(turn: Turn, intent: Intent) -> list[Reply]:
    return await start(turn)


async def _code(turn: Turn, intent: Intent) -> list[Reply]:
    return await start(turn, code=intent.code)


async def _add_child(turn: Turn) -> list[Reply]:
    return await start(turn)


FEATURE = dialog_feature(
    NAME,
    "v",
    handle,
    reminder,
    intents={IntentName.LINK: _link_another, IntentName.CODE: _code},
    menu={"add_child": _add_child},
)
