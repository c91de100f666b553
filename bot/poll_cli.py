"""``run_bot.py poll create`` and ``run_bot.py poll results`` (issue 17): a class poll from the
command line, for school staff, and its results (printed, or written as CSV).

    run_bot.py poll create --class 6A --question "Họp phụ huynh buổi nào?" \\
        --option "Sáng thứ Bảy" --option "Tối thứ Sáu" --deadline "27/11 17h" [--multiple] \\
        [--anonymous]
    run_bot.py poll results --id 1 [--csv ket-qua.csv]
    run_bot.py poll close 1
    run_bot.py poll extend 1 "20/12 17:00"
    run_bot.py poll cancel 1 --yes

The poll goes out exactly as one made in a chat: through the outbox, to every linked
guardian, per pupil (``bot.polls.publish_poll``); the running bot delivers it. Closing,
extending and cancelling are the same functions a teacher's buttons use (``bot.polls``): the
author is sent the final results once, the parents the cancel notice once. Like every
operator command, it speaks English unless ``--lang vi`` or a ``vi_*`` locale (catalogue
table ``[poll_cli]``; the results are the teacher's ``[poll]`` lines).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    poll = sub.add_parser(
        "poll",
        parents=[common],
        help="class polls: create one for a class (or the school), read its results",
        description="class polls: create one for a class (or the school), read its results",
    )
    poll_sub = poll.add_subparsers(dest="poll_command", metavar="ACTION", required=True)
    create = poll_sub.add_parser(
        "create",
        parents=[common],
        help="ask the parents of a class (or of the whole school) a question",
        description="Ask the parents of a class (or, without --class, of the whole school) "
        "a question with 2 to 6 options until a deadline. Each guardian answers per child.",
    )
    create.add_argument("--school", default=None, help="school id (default: the configured one)")
    create.add_argument(
        "--class", dest="class_name", default=None, metavar="NAME", help="class name, e.g. 6A"
    )
    create.add_argument("--question", required=True, help="the question, at most 300 characters")
    create.add_argument(
        "--option", dest="options", action="append", required=True, help="an option (2 to 6)"
    )
    create.add_argument(
        "--deadline", required=True, help='e.g. "27/11/2026 17:00", "27/11 17h", "3 ngày"'
    )
    create.add_argument("--multiple", action="store_true", help="parents may pick several")
    create.add_argument("--anonymous", action="store_true", help="results show counts only")
    results = poll_sub.add_parser(
        "results",
        parents=[common],
        help="print a poll's results, or write them as CSV",
        description="Print a poll's live results (who has not answered, unless anonymous), "
        "or write them to a CSV file.",
    )
    results.add_argument("--school", default=None, help="school id (default: the configured one)")
    results.add_argument("--id", type=int, required=True, help="the poll number (#)")
    results.add_argument("--csv", type=Path, default=None, metavar="FILE", help="write CSV here")
    close = poll_sub.add_parser(
        "close",
        parents=[common],
        help="close a poll now (the author gets the final results)",
        description="Close a poll now: parents can no longer answer, and the teacher who "
        "created it is sent the final results (once).",
    )
    extend = poll_sub.add_parser(
        "extend",
        parents=[common],
        help="move a poll's deadline later",
        description="Move an open poll's deadline later. The reminder moves with it; one "
        "already sent is sent again only for an extension of more than two days.",
    )
    cancel = poll_sub.add_parser(
        "cancel",
        parents=[common],
        help="cancel a poll (parents are told; the results are kept)",
        description="Cancel a poll: no answer, reminder or results after; every parent chat "
        "that received it is told (through the outbox, quiet hours respected).",
    )
    for one in (close, extend, cancel):
        one.add_argument("--school", default=None, help="school id (default: the configured one)")
        one.add_argument("id", type=int, help="the poll number (#)")
    extend.add_argument("deadline", help='the new deadline, e.g. "20/12 17:00", "3 ngày"')
    cancel.add_argument("--yes", action="store_true", help="cancel without asking to confirm")


Say = Callable[..., str]


def _school(args: argparse.Namespace, settings: Settings, say: Say) -> str | None:
    school_id = str(args.school or settings.school_configs()[0].id)
    if school_id not in {s.id for s in settings.school_configs()}:
        print(say("unknown_school", school=school_id), file=sys.stderr)
        return None
    return school_id


async def run(args: argparse.Namespace, settings: Settings, *, lang: str) -> int:
    from bot.i18n import Catalog

    catalog = Catalog.load()

    def say(key: str, /, **values: object) -> str:
        return catalog.t(lang, f"poll_cli.{key}", **values)

    if args.poll_command == "create":
        return await _create(args, settings, say, lang)
    if args.poll_command in {"close", "extend", "cancel"}:
        return await _manage(args, settings, say, lang)
    return await _results(args, settings, say, lang)


async def _create(args: argparse.Namespace, settings: Settings, say: Say, lang: str) -> int:
    from bot.bootstrap import opened_app
    from bot.domain.polls import (
        MAX_OPTION,
        MAX_OPTIONS,
        MAX_QUESTION,
        MIN_OPTIONS,
        WHOLE_SCHOOL,
        PollSpec,
        deadline_problem,
        parse_deadline,
    )
    from bot.domain.text import clean, fold
    from bot.polls import publish_poll, when

    question = clean(args.question).strip()
    options = [clean(o).strip() for o in args.options if clean(o).strip()]
    if not question or len(question) > MAX_QUESTION:
        print(say("question_length", limit=MAX_QUESTION), file=sys.stderr)
        return 2
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS or any(len(o) > MAX_OPTION for o in options):
        print(say("options", low=MIN_OPTIONS, high=MAX_OPTIONS, limit=MAX_OPTION), file=sys.stderr)
        return 2
    school_id = _school(args, settings, say)
    if school_id is None:
        return 2
    async with opened_app(settings) as app:
        services = app.services.for_school(school_id)
        now = services.clock.now()
        deadline = parse_deadline(args.deadline, now, services.timezone)
        if deadline is None or deadline_problem(deadline, now) is not None:
            print(say("deadline"), file=sys.stderr)
            return 2
        backend = services.backends.for_school(school_id)
        # the parents read the class name in Vietnamese, whatever the operator's language
        class_id, class_name = WHOLE_SCHOOL, services.catalog.t("vi", "notice.school_target")
        if args.class_name:
            wanted = fold(args.class_name).replace(" ", "")
            found = next(
                (c for c in await backend.classes() if fold(c.name).replace(" ", "") == wanted),
                None,
            )
            if found is None:
                print(say("unknown_class", name=args.class_name), file=sys.stderr)
                return 2
            class_id, class_name = found.id, found.name
        spec = PollSpec(
            question=question,
            options=tuple(options),
            multiple=args.multiple,
            anonymous=args.anonymous,
            deadline_at=deadline,
        )
        async with app.uow_factory() as uow:
            poll, queued = await publish_poll(
                uow,
                backend,
                services,
                school_id=school_id,
                class_id=class_id,
                class_name=class_name,
                author_id="cli",
                spec=spec,
                now=now,
            )
            await uow.audit.record(
                school_id=school_id,
                actor="cli",
                action="poll.created",
                subject=f"poll:{poll.id}",
                detail={"messages": queued},
                at=now,
            )
            await uow.commit()
    print(
        say(
            "created",
            id=poll.id,
            target=class_name,
            when=when(deadline, services.timezone, lang),
            count=queued,
        )
    )
    return 0


async def _results(args: argparse.Namespace, settings: Settings, say: Say, lang: str) -> int:
    from bot.bootstrap import opened_app
    from bot.polls import catalog_t, results_csv, results_text, unlinked_pupils

    school_id = _school(args, settings, say)
    if school_id is None:
        return 2
    async with opened_app(settings) as app:
        services = app.services.for_school(school_id)
        async with app.uow_factory() as uow:
            poll = await uow.polls.get(school_id, args.id)
            ballots = await uow.polls.ballots(school_id, args.id) if poll else []
            unlinked = await unlinked_pupils(uow, school_id, ballots)
            if poll is not None:
                await uow.audit.record(
                    school_id=school_id,
                    actor="cli",
                    action="poll.exported" if args.csv else "poll.results",
                    subject=f"poll:{poll.id}",
                    detail={},
                    at=services.clock.now(),
                )
                await uow.commit()
    if poll is None:
        print(say("no_poll", id=args.id, school=school_id), file=sys.stderr)
        return 2
    if args.csv is not None:
        args.csv.write_text(results_csv(poll, ballots), encoding="utf-8")
        print(say("wrote_csv", path=args.csv, count=len(ballots)))
        return 0
    t = catalog_t(services.catalog, lang)
    print(
        results_text(
            t,
            poll,
            ballots,
            now=services.clock.now(),
            tz=services.timezone,
            locale=lang,
            unlinked=unlinked,
        )
    )
    return 0


async def _manage(args: argparse.Namespace, settings: Settings, say: Say, lang: str) -> int:
    """``poll close|extend|cancel <id>``: the same guarded steps as a teacher's buttons."""
    from bot.bootstrap import opened_app
    from bot.domain.polls import deadline_problem, parse_deadline
    from bot.polls import cancel_poll, close_poll, extend_poll, when

    school_id = _school(args, settings, say)
    if school_id is None:
        return 2
    if args.poll_command == "cancel" and not args.yes and not await _confirmed(say, args.id):
        print(say("not_confirmed"), file=sys.stderr)
        return 1
    async with opened_app(settings) as app:
        services = app.services.for_school(school_id)
        now = services.clock.now()
        async with app.uow_factory() as uow:
            poll = await uow.polls.get(school_id, args.id)
            if poll is None:
                print(say("no_poll", id=args.id, school=school_id), file=sys.stderr)
                return 2
            if args.poll_command == "cancel":
                told = await cancel_poll(uow, services, poll, now)
                if told is None:
                    print(say("already_cancelled", id=poll.id), file=sys.stderr)
                    return 1
                line = say("cancelled", id=poll.id, count=told)
            elif args.poll_command == "close":
                if await close_poll(uow, services, poll, now) is None:
                    print(say("not_open", id=poll.id), file=sys.stderr)
                    return 1
                line = say("closed", id=poll.id)
            else:
                if not poll.is_open(now):
                    print(say("not_open", id=poll.id), file=sys.stderr)
                    return 1
                deadline = parse_deadline(args.deadline, now, services.timezone)
                if deadline is None or deadline_problem(deadline, now) is not None:
                    print(say("deadline"), file=sys.stderr)
                    return 2
                if deadline <= poll.deadline_at:
                    old = when(poll.deadline_at, services.timezone, lang)
                    print(say("not_later", when=old), file=sys.stderr)
                    return 2
                moved = await extend_poll(uow, poll, deadline, now)
                if moved is None:
                    print(say("not_open", id=poll.id), file=sys.stderr)
                    return 1
                new = when(deadline, services.timezone, lang)
                if moved.reminded_at is None:
                    remind = when(moved.remind_at, services.timezone, lang)
                    line = say("extended_remind", id=poll.id, when=new, remind=remind)
                else:
                    line = say("extended", id=poll.id, when=new)
            await uow.audit.record(
                school_id=school_id,
                actor="cli",
                action={"close": "poll.closed", "extend": "poll.extended"}.get(
                    args.poll_command, "poll.cancelled"
                ),
                subject=f"poll:{poll.id}",
                detail={},
                at=now,
            )
            await uow.commit()
    print(line)
    return 0


async def _confirmed(say: Say, poll_id: int) -> bool:
    """Ask, as ``run_bot.py notice`` does; no answer (a script without ``--yes``): no."""
    import asyncio

    from bot.domain.text import fold

    try:
        answer = await asyncio.to_thread(input, say("confirm_cancel", id=poll_id) + " ")
    except EOFError:
        answer = ""
    return fold(answer).strip() in {"y", "yes", "co", "c"}
