"""Class polls, from a stored poll to messages (issue 17). Nothing here sends.

* :func:`publish_poll` stores a poll with one ballot per pupil (the class list where the
  school system has one, else the pupils with a linked guardian), and queues one message per
  guardian and pupil (a parent of two children in the class gets two, each with its own
  buttons), in the caller's transaction.
* :class:`PollJobs` queues the one reminder per poll, to the guardians of pupils who have not
  answered. ``poll.reminded_at`` is set in the same transaction, only where it is still empty,
  and each message has a dedupe key (per deadline: an extension of more than two days may
  re-arm the reminder once): a second worker or a restart cannot remind twice. Once
  the deadline has passed it sends the author the final results, once (``closed_told_at``).
* :func:`close_poll`, :func:`extend_poll`, :func:`cancel_poll` and :func:`edit_poll` manage a
  sent poll (a chat, ``handlers.poll_manage``, or the CLI). Each is one guarded update: of a
  double press, a replayed update or two workers only the first acts, and the messages it
  queues (the author's final results, the parents' cancel notice) carry dedupe keys too.
* :func:`results_text` and :func:`results_csv` are what the teacher (or the CLI) reads.

All messages go through the outbox, as ordinary (not urgent) messages: the relay holds them
during the school's quiet hours. Works with ports only, no SQL.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import logging
from collections.abc import Callable, Collection, Sequence
from zoneinfo import ZoneInfo

from bot.domain.errors import BackendError
from bot.domain.formatting import format_date, weekday_name
from bot.domain.models import Student
from bot.domain.polls import (
    WHOLE_SCHOOL,
    Ballot,
    Poll,
    PollSpec,
    Tally,
    extended_reminder,
    reminder_time,
    tally,
)
from bot.i18n import Catalog, normalise_locale
from bot.messages import Button, ConversationKey
from bot.ports import (
    Capability,
    Link,
    LinkRole,
    OutgoingMessage,
    SchoolBackend,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bot.turn import CoreServices, with_tokens

log = logging.getLogger(__name__)

ACTION_ANSWER = "pa"  # pa:<ballot id>:<option index>, on the parent's side
ACTION_RESULTS = "pr"  # pr:<poll id>, on the teacher's side
ACTION_CSV = "pc"  # pc:<poll id>: the results as a CSV document
ACTION_MANAGE = "pm"  # pm:close|cancel|cancel_ok:<poll id>, pm:ext:<poll id>:<deadline>
ACTION_EDIT = "px"  # px:<poll id>: the small dialog that fixes a typo (dialogs/poll_edit.py)
MAX_NAMES = 30  # names listed per option / not answered; more become "… và N em nữa"

Translate = Callable[..., str]


def when(deadline: dt.datetime, tz: str, locale: str) -> str:
    """ "17:00 Thứ Sáu 11/12/2026"."""
    local = deadline.astimezone(ZoneInfo(tz))
    return f"{local:%H:%M} {weekday_name(local.weekday(), locale)} {format_date(local.date())}"


async def locale_of(uow: UnitOfWork, key: ConversationKey) -> str:
    state = await uow.conversations.load(key)
    return normalise_locale(state.locale or state.platform_locale or "vi")


def option_buttons(poll: Poll, ballot: Ballot) -> tuple[tuple[Button, ...], ...]:
    """One row per option; the options already chosen carry a ✓."""
    rows = []
    for index, option in enumerate(poll.options):
        mark = "✓ " if index in ballot.choices else ""
        label = f"{mark}{option}"
        rows.append((Button(label=label, action=f"{ACTION_ANSWER}:{ballot.id}:{index}"),))
    return tuple(rows)


def ballot_text(
    t: Translate, poll: Poll, ballot: Ballot, *, tz: str, locale: str, typed: bool, head: str
) -> str:
    """The question for one pupil: who asks, the question, the options, the deadline and,
    on a channel without buttons, how to answer by typing."""
    lines = [
        t(head, target=poll.class_name, child=ballot.student_name),
        "",
        poll.question,
    ]
    if typed:
        lines += [f"{i + 1}. {option}" for i, option in enumerate(poll.options)]
    lines.append("")
    lines.append(t("poll.how_multiple" if poll.multiple else "poll.how_single"))
    if ballot.answered:
        lines.append(t("poll.your_answer", answer=chosen_text(poll, ballot.choices)))
    lines.append(t("poll.deadline_line", when=when(poll.deadline_at, tz, locale)))
    if poll.anonymous:
        lines.append(t("poll.anonymous_note"))
    if typed:
        example = "1 3" if poll.multiple else "1"
        lines.append(t("poll.typed_hint", id=ballot.id, example=example))
    return "\n".join(lines)


def chosen_text(poll: Poll, choices: Sequence[int]) -> str:
    return "; ".join(poll.options[c] for c in choices if 0 <= c < len(poll.options))


async def _queue_ballot(
    uow: UnitOfWork,
    services: CoreServices,
    *,
    poll: Poll,
    ballot: Ballot,
    link: Link,
    kind: str,
    dedupe: str,
    head: str,
    now: dt.datetime,
) -> bool:
    locale = await locale_of(uow, link.key)

    def t(key: str, /, **values: object) -> str:
        return services.catalog.t(locale, key, **values)

    buttons = services.can_show_buttons(link.key.channel)
    text = ballot_text(
        t, poll, ballot, tz=services.timezone, locale=locale, typed=not buttons, head=head
    )
    rows: tuple[tuple[Button, ...], ...] = ()
    if buttons:
        rows = await with_tokens(uow, link.key, option_buttons(poll, ballot), now=now)
    return await uow.outbox.enqueue(
        OutgoingMessage(
            recipient=link.key,
            kind=kind,
            text=text,
            dedupe_key=dedupe,
            buttons=rows,
            expires_at=poll.deadline_at,  # a question nobody can answer any more is not sent
            locale=locale,
        ),
        now=now,
    )


async def _roster(backend: SchoolBackend, class_id: str) -> dict[str, tuple[str, str, str]]:
    """Every pupil of the class (or school), where the school system lists classes: the
    teacher then sees who has not answered among all, and a parent who links later can
    still answer. Without a roster, only the pupils with a linked guardian get a ballot."""
    if Capability.ROSTER not in backend.capabilities:
        return {}
    class_ids = [class_id]
    if class_id == WHOLE_SCHOOL:
        class_ids = [c.id for c in await backend.classes()]
    pupils: dict[str, tuple[str, str, str]] = {}
    try:
        for one in class_ids:
            for s in await backend.class_students(one):
                pupils[s.id] = (s.id, s.full_name, s.class_name)
    except BackendError as err:  # the class list is a bonus: the linked pupils still count
        log.warning("poll: class list unavailable: %s", type(err).__name__)
    return pupils


async def unlinked_pupils(uow: UnitOfWork, school_id: str, ballots: Sequence[Ballot]) -> set[str]:
    """The ballots' pupils none of whose guardians is linked (nobody received the poll)."""
    linked = {
        link.subject_id
        for link in await uow.notifications.guardian_links([school_id])
        if link.key.school_id == school_id
    }
    return {b.student_id for b in ballots if b.student_id not in linked}


async def publish_poll(
    uow: UnitOfWork,
    backend: SchoolBackend,
    services: CoreServices,
    *,
    school_id: str,
    class_id: str,
    class_name: str,
    author_id: str,
    spec: PollSpec,
    now: dt.datetime,
) -> tuple[Poll, int]:
    """Store the poll (``class_id`` :data:`WHOLE_SCHOOL`: every class) and queue it to every
    linked guardian of its pupils. Returns the poll and how many messages were queued. The
    caller checks who may ask which class."""
    links = [
        link
        for link in await uow.notifications.guardian_links([school_id])
        if link.key.school_id == school_id
    ]
    students: dict[str, Student | None] = {}
    for link in links:
        if link.subject_id not in students:
            students[link.subject_id] = await backend.get_student(link.subject_id)
    chosen = {
        s.id: (s.id, s.full_name, s.class_name)
        for s in students.values()
        if s is not None and (class_id == WHOLE_SCHOOL or s.class_id == class_id)
    }
    chosen.update(await _roster(backend, class_id))
    pupils = sorted(chosen.values(), key=lambda p: (p[2], p[1]))
    poll = await uow.polls.create(
        school_id=school_id,
        class_id=class_id,
        class_name=class_name,
        author_id=author_id,
        spec=spec,
        remind_at=reminder_time(now, spec.deadline_at),
        pupils=pupils,
        now=now,
    )
    by_pupil: dict[str, list[Link]] = {}
    for link in links:
        by_pupil.setdefault(link.subject_id, []).append(link)
    queued = 0
    for ballot in await uow.polls.ballots(school_id, poll.id):
        for link in by_pupil.get(ballot.student_id, []):
            channel, user = link.key.channel, link.key.user_id
            queued += await _queue_ballot(
                uow,
                services,
                poll=poll,
                ballot=ballot,
                link=link,
                kind="poll",
                dedupe=f"poll:{school_id}:{ballot.id}:{channel}:{user}",
                head="poll.delivery_head",
                now=now,
            )
    return poll, queued


async def remind(uow: UnitOfWork, services: CoreServices, poll: Poll, now: dt.datetime) -> int:
    """Queue the reminder to the guardians of pupils without an answer; 0 if this poll was
    reminded already (by another worker, or before a restart)."""
    if not await uow.polls.mark_reminded(poll.id, now=now):
        return 0
    stamp = int(poll.deadline_at.timestamp())
    by_pupil: dict[str, list[Link]] = {}
    for link in await uow.notifications.guardian_links([poll.school_id]):
        if link.key.school_id == poll.school_id:  # one read, not one per pupil
            by_pupil.setdefault(link.subject_id, []).append(link)
    queued = 0
    for ballot in await uow.polls.ballots(poll.school_id, poll.id):
        if ballot.answered:
            continue
        for link in by_pupil.get(ballot.student_id, []):
            channel, user = link.key.channel, link.key.user_id
            queued += await _queue_ballot(
                uow,
                services,
                poll=poll,
                ballot=ballot,
                link=link,
                kind="poll.reminder",
                # one reminder per deadline: an extension may re-arm it (extend_poll)
                dedupe=f"poll-remind:{poll.school_id}:{ballot.id}:{channel}:{user}:{stamp}",
                head="poll.reminder_head",
                now=now,
            )
    return queued


CLOSING_GRACE = dt.timedelta(days=2)  # after a longer outage, closed polls are not told


async def tell_author(uow: UnitOfWork, services: CoreServices, poll: Poll, now: dt.datetime) -> int:
    """Queue the final results to every chat of the poll's author (a teacher; not the CLI);
    0 if they were told already."""
    if not await uow.polls.mark_closed_told(poll.id, now=now):
        return 0
    if poll.author_id == "cli":
        return 0
    links = await uow.links.for_subject(
        school_id=poll.school_id, role=LinkRole.STAFF, subject_id=poll.author_id
    )
    ballots = await uow.polls.ballots(poll.school_id, poll.id)
    unlinked = await unlinked_pupils(uow, poll.school_id, ballots)
    queued = 0
    for link in links:
        locale = await locale_of(uow, link.key)

        def t(key: str, /, _locale: str = locale, **values: object) -> str:
            return services.catalog.text(_locale, key, values, to_teacher=True)

        text = t("poll.closed_early_head" if poll.closed_at else "poll.closed_head") + "\n\n"
        text += results_text(
            t, poll, ballots, now=now, tz=services.timezone, locale=locale, unlinked=unlinked
        )
        rows: tuple[tuple[Button, ...], ...] = ()
        if services.can_show_buttons(link.key.channel):
            again = Button(label=t("poll.button_refresh"), action=f"{ACTION_RESULTS}:{poll.id}")
            rows = await with_tokens(uow, link.key, ((again,),), now=now)
        channel, user = link.key.channel, link.key.user_id
        queued += await uow.outbox.enqueue(
            OutgoingMessage(
                recipient=link.key,
                kind="poll.closed",
                text=text,
                dedupe_key=f"poll-closed:{poll.school_id}:{poll.id}:{channel}:{user}",
                buttons=rows,
                expires_at=now + dt.timedelta(days=7),
                locale=locale,
            ),
            now=now,
        )
    return queued


async def close_poll(
    uow: UnitOfWork, services: CoreServices, poll: Poll, now: dt.datetime
) -> Poll | None:
    """Close an open poll now: answers stop and the author is sent the final results, once
    (the deadline job will not send them again). ``None`` if it was not open (closed already,
    cancelled, past its deadline). The caller checks who may close it."""
    if not await uow.polls.close(poll.id, now=now):
        return None
    closed = dataclasses.replace(poll, closed_at=now)
    await tell_author(uow, services, closed, now)
    return closed


async def extend_poll(
    uow: UnitOfWork, poll: Poll, deadline_at: dt.datetime, now: dt.datetime
) -> Poll | None:
    """Move an open poll's deadline later (the caller checked ``deadline_problem`` and that
    it is later). The reminder moves with it; one sent already is sent again only for an
    extension of more than two days (``bot.domain.polls.extended_reminder``). ``None`` if the
    poll is no longer open or its deadline moved meanwhile (a double press)."""
    remind_at = extended_reminder(poll, deadline_at, now)
    moved = await uow.polls.extend(
        poll.id, deadline_at=deadline_at, remind_at=remind_at, was=poll.deadline_at, now=now
    )
    if not moved:
        return None
    if remind_at is None:
        return dataclasses.replace(poll, deadline_at=deadline_at)
    return dataclasses.replace(poll, deadline_at=deadline_at, remind_at=remind_at, reminded_at=None)


async def cancel_poll(
    uow: UnitOfWork, services: CoreServices, poll: Poll, now: dt.datetime
) -> int | None:
    """Cancel a poll: no answer, reminder or final results after; the ballots are kept,
    marked cancelled. The guardians of its pupils are told, one message per chat (a parent of
    two in the class gets one), through the outbox (quiet hours hold it). Returns how many
    were queued; ``None`` if it was cancelled already."""
    if not await uow.polls.cancel(poll.id, now=now):
        return None
    ballots = await uow.polls.ballots(poll.school_id, poll.id)
    pupils = {b.student_id for b in ballots}
    seen: set[tuple[str, str]] = set()
    queued = 0
    for link in await uow.notifications.guardian_links([poll.school_id]):
        channel, user = link.key.channel, link.key.user_id
        if link.key.school_id != poll.school_id or link.subject_id not in pupils:
            continue
        if (channel, user) in seen:
            continue
        seen.add((channel, user))
        locale = await locale_of(uow, link.key)
        text = services.catalog.t(
            locale, "poll.cancelled_notice", target=poll.class_name, question=poll.question
        )
        queued += await uow.outbox.enqueue(
            OutgoingMessage(
                recipient=link.key,
                kind="poll.cancelled",
                text=text,
                dedupe_key=f"poll-cancel:{poll.school_id}:{poll.id}:{channel}:{user}",
                expires_at=now + dt.timedelta(days=7),
                locale=locale,
            ),
            now=now,
        )
    return queued


async def edit_poll(
    uow: UnitOfWork, poll: Poll, *, question: str, options: Sequence[str], now: dt.datetime
) -> Poll | None:
    """Fix a typo in the question or an option's label (never how many options there are):
    only while the poll is open and nobody has answered. ``None`` otherwise."""
    if len(options) != len(poll.options):
        return None
    if not await uow.polls.edit(poll.id, question=question, options=options, now=now):
        return None
    return dataclasses.replace(poll, question=question, options=tuple(options))


class PollJobs:
    """The poll work nobody asked for in a chat: the one reminder before the deadline, and
    the final results for the author once it has passed. Safe in several workers at once
    (see the module's docstring)."""

    def __init__(self, uow_factory: UnitOfWorkFactory, services: CoreServices) -> None:
        self._uow_factory = uow_factory
        self._services = services

    async def run_once(self, now: dt.datetime | None = None) -> int:
        """Returns how many messages (reminders, final results) were queued."""
        now = now or self._services.clock.now()
        async with self._uow_factory() as uow:
            due = list(await uow.polls.due_reminders(now))
            closed = list(await uow.polls.due_closings(now, since=now - CLOSING_GRACE))
        queued = 0
        for step, polls in ((remind, due), (tell_author, closed)):
            for poll in polls:
                async with self._uow_factory() as uow:
                    services = self._services.for_school(poll.school_id)
                    sent = await step(uow, services, poll, now)
                    await uow.commit()
                if sent:
                    log.info("poll %d: %d messages queued (%s)", poll.id, sent, step.__name__)
                queued += sent
        return queued


# --- results -----------------------------------------------------------------------------


def _names(t: Translate, names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES])
    if len(names) > MAX_NAMES:
        shown += " " + t("poll.more_names", n=len(names) - MAX_NAMES)
    return shown


def results_text(
    t: Translate,
    poll: Poll,
    ballots: Sequence[Ballot],
    *,
    now: dt.datetime,
    tz: str,
    locale: str,
    unlinked: Collection[str] = (),
) -> str:
    """Live results: counts per option, who answered what and who has not (anonymous polls:
    counts and the number not answered only). ``unlinked``: see :func:`unlinked_pupils`."""
    result: Tally = tally(poll, ballots, unlinked)
    if poll.cancelled_at is not None:
        state = t("poll.state_cancelled", when=when(poll.cancelled_at, tz, locale))
    elif poll.is_open(now):
        state = t("poll.state_open", when=when(poll.deadline_at, tz, locale))
    else:
        state = t("poll.state_closed", when=when(poll.ended_at, tz, locale))
    lines = [
        t("poll.results_head", id=poll.id, target=poll.class_name),
        poll.question,
        state,
        "",
    ]
    for index, option in enumerate(poll.options):
        count = result.counts[index]
        share = round(100 * count / result.answered) if result.answered else 0
        line = f"{index + 1}. {option}: {count} ({share}%)"
        if result.voters[index]:
            line += " — " + _names(t, result.voters[index])
        lines.append(line)
    lines.append("")
    lines.append(t("poll.answered", answered=result.answered, total=result.total))
    if result.not_answered:
        if poll.anonymous:
            lines.append(t("poll.not_answered_count", n=result.not_answered))
        else:
            lines.append(
                t("poll.not_answered", n=result.not_answered, names=_names(t, result.missing))
            )
    if result.unlinked:
        key = "poll.unlinked_count" if poll.anonymous else "poll.unlinked_note"
        lines.append(t(key, n=result.unlinked))
    if poll.anonymous:
        lines.append(t("poll.anonymous_note_teacher"))
    return "\n".join(lines)


def results_csv(poll: Poll, ballots: Sequence[Ballot]) -> str:
    """The results as CSV (UTF-8 with a BOM so a spreadsheet opens the Vietnamese right).
    Named polls: one row per pupil; anonymous polls: one row per option with its count."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    if poll.anonymous:
        result = tally(poll, ballots)
        writer.writerow(["poll", "question", "option", "count"])
        for index, option in enumerate(poll.options):
            writer.writerow([poll.id, poll.question, option, result.counts[index]])
        writer.writerow([poll.id, poll.question, "(no answer)", result.not_answered])
        return out.getvalue()
    writer.writerow(["poll", "question", "class", "pupil", "answer", "answered_at"])
    for ballot in sorted(ballots, key=lambda b: (b.class_name, b.student_name)):
        writer.writerow(
            [
                poll.id,
                poll.question,
                ballot.class_name,
                ballot.student_name,
                chosen_text(poll, ballot.choices),
                ballot.answered_at.isoformat() if ballot.answered_at else "",
            ]
        )
    return out.getvalue()


def catalog_t(catalog: Catalog, locale: str) -> Translate:
    def t(key: str, /, **values: object) -> str:
        return catalog.t(locale, key, **values)

    return t
