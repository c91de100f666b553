"""A homeroom teacher asks for the printed contact book of a class ("in sổ liên lạc lớp 6A",
"/solienlac 11/2026") and receives the PDF as a document (issue 16).

Authorisation is the one leave decisions use: a staff link of this very chat user to a
teacher who is the class's homeroom teacher (or its substitute today); a class button is
re-checked on every press. Channels that cannot carry a file get a sentence saying where to
get the book instead.
"""

from __future__ import annotations

import asyncio
import re

from bot.contact_book import Month, gather, parse_month, render
from bot.domain.models import SchoolClass
from bot.domain.text import contains_phrase, fold
from bot.feature import Feature, action
from bot.messages import Button, Reply
from bot.ports import Capability
from bot.turn import Turn
from handlers.absence import classes_in_charge, desk_of, my_teachers
from handlers.intents import Intent

ACTION = "cbook"
_COMMANDS = ("/solienlac", "/contactbook")
_MONTH_IN_TEXT = re.compile(r"\b(\d{1,2})\s*/\s*(\d{4})\b")
_MONTH_WORD = re.compile(r"\b(?:thang|month)\s+(\d{1,2})\b")


def is_command(folded: str) -> bool:
    """``/solienlac`` (also ``/soliênlạc``, ``/contactbook``, ``/solienlac@bot``)."""
    first = folded.split(" ", 1)[0] if folded else ""
    return first.split("@", 1)[0] in _COMMANDS


def asks_contact_book(folded: str) -> bool:
    """ "in sổ liên lạc", "sổ liên lạc in", "sổ liên lạc pdf", "/solienlac", "print contact
    book". "sổ liên lạc" alone is not enough: a parent may be asking about the app itself."""
    if is_command(folded):
        return True
    book = contains_phrase(folded, "so lien lac") or contains_phrase(folded, "contact book")
    printed = any(contains_phrase(folded, w) for w in ("in", "pdf", "print", "ban in"))
    return book and printed


def wanted_month(folded: str, today_year: int, today_month: int) -> Month:
    """ "11/2026"; "tháng 11" (in the school year under way); else this month."""
    found = _MONTH_IN_TEXT.search(folded)
    if found:
        month = parse_month(f"{found.group(1)}/{found.group(2)}")
        if month is not None:
            return month
    word = _MONTH_WORD.search(folded)
    if word and 1 <= int(word.group(1)) <= 12:
        number = int(word.group(1))
        year = today_year
        if number >= 8 > today_month:  # asked in spring about the autumn
            year -= 1
        elif number < 8 <= today_month:  # asked in autumn about the spring
            year += 1
        return Month(year=year, month=number)
    return Month(year=today_year, month=today_month)


def _named_class(folded: str, classes: list[SchoolClass]) -> SchoolClass | None:
    words = set(folded.replace("lop ", "").split())
    for school_class in classes:
        if fold(school_class.name).replace(" ", "") in words:
            return school_class
    return None


async def _my_classes(turn: Turn) -> tuple[list[str], list[Reply]]:
    """The classes this chat user is homeroom teacher (or substitute) of today, or the reply
    saying why there are none."""
    teachers = await my_teachers(turn)
    if not teachers:
        return [], [Reply(text=turn.t("contact_book.teachers_only"))]
    desk = desk_of(turn)
    mine = sorted({c for t in teachers for c in await classes_in_charge(desk, t)})
    if not mine:
        return [], [Reply(text=turn.t("contact_book.no_class"))]
    return mine, []


async def _deliver(turn: Turn, school_class: SchoolClass, month: Month) -> list[Reply]:
    backend = turn.backend
    if Capability.ROSTER not in backend.capabilities:
        return [Reply(text=turn.t("contact_book.unsupported"))]
    caps = turn.services.capabilities.get(turn.key.channel)
    if caps is None or not caps.documents:
        return [Reply(text=turn.t("contact_book.no_documents"))]
    await turn.audit("contact_book.printed", subject=school_class.id, month=month.label())
    info = await backend.school_info()
    pages = await gather(backend, [school_class.id], month)
    pdf = await asyncio.to_thread(
        render,
        pages,
        school=info,
        month=month,
        catalog=turn.services.catalog,
        locale=turn.locale,
        bank=turn.services.bank,
    )
    safe_class = re.sub(r"[^a-z0-9]+", "", fold(school_class.name)) or "lop"
    filename = turn.t(
        "contact_book.filename",
        class_name=safe_class,
        month=f"{month.year:04d}-{month.month:02d}",
    )
    text = turn.t(
        "contact_book.ready",
        class_name=school_class.name,
        month=month.label(),
        pages=len(pages),
    )
    return [Reply(text=text, document=(filename, pdf), private_only=True)]


async def _typed(turn: Turn, intent: Intent) -> list[Reply] | None:
    folded = fold(turn.text)
    if not asks_contact_book(folded):
        return None
    if turn.state.dialog and not is_command(folded):
        return None  # a notice being typed may well say "ký vào sổ liên lạc in sẵn"
    class_ids, refusal = await _my_classes(turn)
    if refusal:
        return refusal
    today = turn.today()
    month = wanted_month(folded, today.year, today.month)
    classes = list(await turn.backend.classes())
    named = _named_class(folded, classes)
    if named is not None:
        if named.id not in class_ids:
            return [Reply(text=turn.t("contact_book.not_your_class", class_name=named.name))]
        return await _deliver(turn, named, month)
    own = [c for c in classes if c.id in class_ids]
    if len(own) == 1:
        return await _deliver(turn, own[0], month)
    return [
        Reply(
            text=turn.t("contact_book.which_class"),
            buttons=tuple(
                (Button(label=c.name, action=action(ACTION, c.id, month.label())),) for c in own
            ),
        )
    ]


async def _on_button(turn: Turn, rest: str) -> list[Reply]:
    """A class button: re-checked against this chat's staff links now, not when issued."""
    class_id, _, month_text = rest.partition(":")
    month = parse_month(month_text)
    mine, refusal = await _my_classes(turn)
    if refusal:
        return refusal
    chosen = [c for c in await turn.backend.classes() if c.id == class_id]
    if month is None or not chosen or class_id not in mine:
        return [Reply(text=turn.t("button.not_yours"))]
    return await _deliver(turn, chosen[0], month)


FEATURE = Feature(name="contact_book", commands=(_typed,), actions={ACTION: _on_button})
