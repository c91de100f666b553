"""Scores per subject with TT22 term and year averages (Circular 22/2021, Điều 9)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.domain.formatting import format_average, format_score
from bot.domain.models import GradingForm, Student, SubjectScores, Term
from bot.domain.text import contains_phrase, fold
from bot.domain.tt22 import (
    AverageWorking,
    LearningLevel,
    comment_result,
    learning_level,
    term_average,
    year_average,
)
from bot.messages import Button, Reply
from bot.ports import Capability
from bot.turn import Turn
from handlers import score_insights as insights
from handlers.common import child_label, query, query_action, query_feature
from handlers.intents import IntentName

INTENT = "scores"

# What parents type for a subject, folded -> a phrase found in the folded subject name.
SUBJECT_ALIASES: dict[str, str] = {
    "toan": "toan",
    "van": "ngu van",
    "ngu van": "ngu van",
    "tieng viet": "ngu van",
    "anh": "tieng anh",
    "tieng anh": "tieng anh",
    "ngoai ngu": "tieng anh",
    "english": "tieng anh",
    "khtn": "khoa hoc tu nhien",
    "ly": "khoa hoc tu nhien",
    "vat ly": "khoa hoc tu nhien",
    "hoa": "khoa hoc tu nhien",
    "sinh": "khoa hoc tu nhien",
    "khoa hoc": "khoa hoc tu nhien",
    "su": "lich su",
    "lich su": "lich su",
    "dia": "lich su",
    "dia li": "lich su",
    "dia ly": "lich su",
    "gdcd": "cong dan",
    "cong dan": "cong dan",
    "tin": "tin hoc",
    "tin hoc": "tin hoc",
    "cong nghe": "cong nghe",
    "the duc": "the chat",
    "gdtc": "the chat",
    "the chat": "the chat",
    "nghe thuat": "nghe thuat",
    "am nhac": "nghe thuat",
    "nhac": "nghe thuat",
    "my thuat": "nghe thuat",
    "ve": "nghe thuat",
    "hdtn": "trai nghiem",
    "trai nghiem": "trai nghiem",
    "dia phuong": "dia phuong",
    "math": "toan",
    "literature": "ngu van",
}


# "học bạ" (the pupil's transcript): the school systems offer none yet, so the answer is the
# year summary and a line on what a full học bạ would add (issue 20).
TRANSCRIPT_PHRASES = ("hoc ba", "transcript", "report card", "school report")


def asks_transcript(folded: str) -> bool:
    return any(contains_phrase(folded, p) for p in TRANSCRIPT_PHRASES)


def wanted_term(folded: str, current: Term) -> Term | None:
    """The term asked for; None means the whole year ("cả năm", "học bạ")."""
    if asks_transcript(folded) or any(
        contains_phrase(folded, p) for p in ("ca nam", "nam hoc", "whole year", "year")
    ):
        return None
    if any(
        contains_phrase(folded, p)
        for p in ("hk2", "hkii", "hoc ky 2", "hoc ki 2", "ky 2", "ki 2", "term 2")
    ):
        return Term.HK2
    if any(
        contains_phrase(folded, p)
        for p in ("hk1", "hki", "hoc ky 1", "hoc ki 1", "ky 1", "ki 1", "term 1")
    ):
        return Term.HK1
    return current


def find_subject(folded: str, subjects: Sequence[SubjectScores]) -> SubjectScores | None:
    if not folded:
        return None
    for s in subjects:  # the full name first: "khoa hoc tu nhien"
        if contains_phrase(folded, fold(s.subject_name)):
            return s
    for alias in sorted(SUBJECT_ALIASES, key=len, reverse=True):
        if contains_phrase(folded, alias):
            target = SUBJECT_ALIASES[alias]
            for s in subjects:
                if target in fold(s.subject_name):
                    return s
    return None


async def _answer(turn: Turn, child: Student, folded: str) -> list[Reply]:
    backend = turn.backend
    info = await backend.school_info()
    term = wanted_term(folded, info.current_term)
    if term is None:
        year = await _year(turn, child_label(child), child.id, folded)
        if asks_transcript(folded):
            return [await _transcript(turn, child, year)]
        return [year]
    subjects = list(await backend.scores(child.id, term))
    term_label = turn.t(f"scores.term_{int(term)}")
    if not subjects:
        return [
            Reply(
                text=turn.t("scores.none", child=child_label(child), term=term_label),
                private_only=True,
            )
        ]
    one = find_subject(folded, subjects)
    who = child_label(child)
    if insights.asks_chart(folded):
        return await insights.chart(turn, child, one, who, info.current_term)
    if insights.asks_needed(folded):
        text = (
            insights.subject_need(turn, one, term, folded)
            if one is not None and not insights.asks_level(turn, folded)
            else insights.level_need(turn, subjects, term, folded, who)
        )
        return [Reply(text=text, private_only=True)]
    previous = await insights.previous_averages(turn, child, term)
    chart_arg = "bieu do diem" if one is None else f"bieu do {fold(one.subject_name)}"
    buttons = (
        (
            Button(
                label=turn.t("scores_explained.chart_button"),
                action=query_action(INTENT, child.id, chart_arg),
            ),
        ),
    )
    if one is not None:
        text = _detail(turn, one, who, term_label, previous.get(one.subject_code))
    else:
        text = _summary(turn, subjects, who, term_label, previous=previous)
    return [Reply(text=text, buttons=buttons, private_only=True)]


async def _transcript(turn: Turn, child: Student, year: Reply) -> Reply:
    """ "học bạ": each term's averages and TT22 level so far, the year's, and one line on
    what a full học bạ would add (the school systems offer none yet)."""
    parts = []
    hk2 = False
    for term in (Term.HK1, Term.HK2):
        subjects = list(await turn.backend.scores(child.id, term))
        if subjects:
            label = turn.t(f"scores.term_{int(term)}")
            parts.append(_summary(turn, subjects, child_label(child), label, hint=False))
            hk2 = hk2 or term is Term.HK2
    # before semester II the year block is only "not yet": say why in one line instead
    parts.append(year.text if hk2 else turn.t("scores.year_needs_hk2"))
    parts.append(turn.t("scores.transcript_note"))
    return Reply(text="\n\n".join(parts), private_only=True)


def _subject_result(s: SubjectScores) -> Decimal | bool | None:
    if s.form is GradingForm.COMMENT:
        return comment_result(s.comment_results, s.required_regular or len(s.comment_results))
    working = term_average(s.regular, s.midterm, s.final)
    return working.rounded if working else None


def _result_text(turn: Turn, result: Decimal | bool | None) -> str:
    if result is None:
        return turn.t("scores.incomplete_short")
    if isinstance(result, bool):
        return turn.t("scores.pass") if result else turn.t("scores.fail")
    return format_average(result, turn.locale)


def _summary(
    turn: Turn,
    subjects: Sequence[SubjectScores],
    who: str,
    term_label: str,
    *,
    hint: bool = True,
    previous: dict[str, Decimal] | None = None,
) -> str:
    lines = [turn.t("scores.summary_title", term=term_label, child=who)]
    scored: dict[str, Decimal] = {}
    comments: dict[str, bool] = {}
    complete = True
    for s in subjects:
        result = _subject_result(s)
        line = f"• {s.subject_name}: {_result_text(turn, result)}"
        if previous is not None and isinstance(result, Decimal):
            before = previous.get(s.subject_code)
            line += " — " + insights.level_and_change(turn, result, before, _before(s.term, before))
        lines.append(line)
        if result is None:
            complete = False
        elif isinstance(result, bool):
            comments[s.subject_code] = result
        else:
            scored[s.subject_code] = result
    if complete and scored:
        level = learning_level(scored, comments)
        lines.append("")
        lines.append(turn.t("scores.level", term=term_label, level=_level_text(turn, level)))
    if hint:
        lines.append("")
        lines.append(turn.t("scores.summary_hint"))
    return "\n".join(lines)


def _level_text(turn: Turn, level: LearningLevel) -> str:
    return turn.t(f"scores.level_{level.value}")


def _before(term: Term, previous: Decimal | None) -> Term | None:
    return Term.HK1 if previous is not None and term is Term.HK2 else None


def _detail(
    turn: Turn, s: SubjectScores, who: str, term_label: str, previous: Decimal | None = None
) -> str:
    loc = turn.locale
    lines = [turn.t("scores.detail_title", subject=s.subject_name, term=term_label, child=who)]
    if s.form is GradingForm.COMMENT:
        marks = " · ".join(
            turn.t("scores.pass") if r else turn.t("scores.fail") for r in s.comment_results
        )
        lines.append(turn.t("scores.comment_marks", marks=marks or "—"))
        lines.append(turn.t("scores.comment_result", result=_result_text(turn, _subject_result(s))))
        return "\n".join(lines)
    regular = " · ".join(format_score(x, loc) for x in s.regular) or "—"
    required = f" ({len(s.regular)}/{s.required_regular})" if s.required_regular else ""
    lines.append(turn.t("scores.regular", marks=regular, count=required))
    lines.append(
        turn.t(
            "scores.midterm", mark=format_score(s.midterm, loc) if s.midterm is not None else "—"
        )
    )
    lines.append(
        turn.t("scores.final", mark=format_score(s.final, loc) if s.final is not None else "—")
    )
    working = term_average(s.regular, s.midterm, s.final)
    if working is None:
        lines.append(turn.t("scores.incomplete"))
        lines.append(insights.subject_need(turn, s, s.term, ""))
    else:
        lines.append(_explain(turn, working))
        change = insights.level_and_change(
            turn, working.rounded, previous, _before(s.term, previous)
        )
        lines.append(turn.t("scores_explained.level_line", level=change))
        lines.append(turn.t("scores_explained.ask_need_hint"))
    return "\n".join(lines)


def _explain(turn: Turn, w: AverageWorking) -> str:
    loc = turn.locale
    exact = w.exact.quantize(Decimal("0.001"))
    return turn.t(
        "scores.working",
        sum_tx=format_score(sum(w.regular, Decimal(0)), loc),
        gk=format_score(w.midterm, loc),
        ck=format_score(w.final, loc),
        n=len(w.regular),
        numerator=format_score(w.numerator, loc),
        denominator=w.denominator,
        exact=format_score(exact.normalize(), loc),
        average=format_average(w.rounded, loc),
    )


async def _year(turn: Turn, who: str, student_id: str, folded: str) -> Reply:
    hk1 = {s.subject_code: s for s in await turn.backend.scores(student_id, Term.HK1)}
    hk2 = {s.subject_code: s for s in await turn.backend.scores(student_id, Term.HK2)}
    lines = [turn.t("scores.year_title", child=who)]
    scored: dict[str, Decimal] = {}
    comments: dict[str, bool] = {}
    complete = bool(hk1)
    for code, s1 in hk1.items():
        s2 = hk2.get(code)
        if s1.form is GradingForm.COMMENT:
            # TT22: a comment-only subject's year result is its semester II result.
            result = _subject_result(s2) if s2 else None
            text = _result_text(turn, result)
            if isinstance(result, bool):
                comments[code] = result
            else:
                complete = False
        else:
            a1 = _subject_result(s1)
            a2 = _subject_result(s2) if s2 else None
            year = year_average(
                a1 if isinstance(a1, Decimal) else None, a2 if isinstance(a2, Decimal) else None
            )
            text = (
                format_average(year, turn.locale)
                if year is not None
                else turn.t("scores.incomplete_short")
            )
            if year is None:
                complete = False
            else:
                scored[code] = year
        lines.append(f"• {s1.subject_name}: {text}")
    if complete and scored:
        level = learning_level(scored, comments)
        lines.append("")
        lines.append(
            turn.t("scores.level", term=turn.t("scores.year"), level=_level_text(turn, level))
        )
    if not hk2:
        lines.append("")
        lines.append(turn.t("scores.year_needs_hk2"))
    return Reply(text="\n".join(lines), private_only=True)


handle = query(INTENT, Capability.SCORES, _answer)
FEATURE = query_feature(INTENT, handle, intent=IntentName.SCORES)
