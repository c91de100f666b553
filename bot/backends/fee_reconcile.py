"""``python run_bot.py fees reconcile --school ID --file bank_statement.csv``.

Reads a bank statement export (bot.domain.payments.parse_statement: a header row naming a date,
an amount and a memo column, in Vietnamese or English), finds the fee reference each transfer
memo carries (``HP 7K2QX9MA``, as the VietQR in the fees answer fills it in), and compares the
amount with the fee item. On the local backend (spreadsheet import, demo) the matches are
marked paid in one transaction; a school system the bot only reads gets the list to enter by
hand. Output is for the school's accountant: fee names and pupils' names, never student codes
or phone numbers. Exit codes: 0 done, 2 the file or the command is wrong, 3 the database failed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from bot.config import Settings
from bot.domain.formatting import format_vnd
from bot.domain.models import FeeItem, Student
from bot.domain.payments import (
    Match,
    MatchKind,
    StatementError,
    parse_statement,
    reconcile,
)
from bot.ports import SchoolBackend

__all__ = ["run_reconcile"]

MAX_FILE_BYTES = 20 * 1024 * 1024


async def _school_fees(backend: SchoolBackend) -> tuple[list[FeeItem], dict[str, Student]]:
    fees: list[FeeItem] = []
    students: dict[str, Student] = {}
    for school_class in await backend.classes():
        for student in await backend.class_students(school_class.id):
            students[student.id] = student
            fees.extend(f for f in await backend.fees(student.id) if f.student_id == student.id)
    return fees, students


def _read(file: Path) -> bytes:
    if file.stat().st_size > MAX_FILE_BYTES:
        raise StatementError("larger than 20 MB, not a statement export")
    return file.read_bytes()


def _describe(match: Match, students: dict[str, Student]) -> str:
    line = match.line
    head = f"  line {line.line} ({line.date}): {format_vnd(line.amount)}"
    if match.fee is None:
        return f"{head}: {line.memo[:60]!r}"
    fee = match.fee
    pupil = students.get(fee.student_id)
    who = f"{pupil.full_name} ({pupil.class_name})" if pupil else fee.student_id
    extra = f", the fee is {format_vnd(fee.amount)}" if line.amount != fee.amount else ""
    return f"{head}: {match.reference} = {fee.name} — {who}{extra}"


async def run_reconcile(
    settings: Settings,
    file: Path,
    *,
    school_id: str,
    dry_run: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    from bot.backends.local import mark_fees_paid
    from bot.bootstrap import opened_app

    configs = {s.id: s for s in settings.school_configs()}
    if school_id not in configs:
        print(f"No school {school_id!r} is configured: give the bot's --config.", file=err)
        return 2
    try:
        data = await asyncio.to_thread(_read, file)
    except OSError as error:
        print(f"{file}: cannot read it ({error.strerror or error}).", file=err)
        return 2
    except StatementError as error:
        print(f"{file}: {error}.", file=err)
        return 2
    try:
        lines = parse_statement(data)
    except StatementError as error:
        print(f"{file}: {error}.", file=err)
        return 2
    config = configs[school_id]
    async with opened_app(settings) as app:
        backend = app.services.backends.for_school(school_id)
        fees, students = await _school_fees(backend)
        result = reconcile(lines, fees, school_id=school_id, prefix=config.payment.memo_prefix)
        matched = result.of(MatchKind.MATCHED)
        writable = config.backend.kind == "local"
        marked = 0
        if matched and writable and not dry_run:
            marked = await mark_fees_paid(
                app.sessions,
                school_id,
                [(m.fee.student_id, m.fee.id) for m in matched if m.fee is not None],
                paid_at=app.services.clock.now(),
            )
    titles = {
        MatchKind.MATCHED: "Matched",
        MatchKind.AMOUNT_MISMATCH: "Amount differs (check by hand)",
        MatchKind.ALREADY_PAID: "Already paid",
        MatchKind.UNKNOWN: "No known reference in the memo",
    }
    for kind, title in titles.items():
        found = result.of(kind)
        if found:
            print(f"{title}:", file=out)
            for match in found:
                print(_describe(match, students), file=out)
    if not matched:
        action = "nothing to mark paid"
    elif dry_run:
        action = "dry run, nothing written"
    elif writable:
        action = f"{marked} marked paid"
    else:
        action = f"the {config.backend.kind} backend is read-only: mark them paid there"
    print(
        f"{len(lines)} credit lines: {len(matched)} matched ({action}), "
        f"{len(result.of(MatchKind.AMOUNT_MISMATCH))} amount mismatch, "
        f"{len(result.of(MatchKind.ALREADY_PAID))} already paid, "
        f"{len(result.of(MatchKind.UNKNOWN))} unknown reference.",
        file=out,
    )
    return 0
