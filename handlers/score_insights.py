"""Scores that explain themselves (issue 16): the level a subject average gives, the change
since the last term, "what does my child need?", and the trend chart.

Reached through the scores question (``handlers/scores.py``): "cần bao nhiêu điểm cuối kỳ để
toán được 8", "con cần mấy điểm nữa để đạt học sinh giỏi", "biểu đồ điểm", "xem tiến bộ môn
văn", and the chart button under the scores answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from bot.charts import Series, sparkline, trend_png
from bot.domain.formatting import format_average, format_score
from bot.domain.models import GradingForm, Student, SubjectScores, Term
from bot.domain.score_goals import (
    LevelPlan,
    Need,
    NeedKind,
    OpenSubject,
    better_level,
    needed_final,
    needed_for_level,
    needed_midterm_and_final,
    needed_term2,
    projected,
    subject_level,
)
from bot.domain.text import contains_phrase
from bot.domain.tt22 import LearningLevel, comment_result, learning_level, term_average
from bot.messages import Reply
from bot.turn import Turn

CHART_PHRASES = ("bieu do", "do thi", "tien bo", "xu huong", "chart", "graph", "trend", "progress")
NEED_PHRASES = (
    "can bao nhieu",
    "can may",
    "can them",
    "can dat",
    "can diem",
    "de duoc",
    "de dat",
    "de len",
    "muon dat",
    "muon duoc",
    "need",
    "to get",
    "to reach",
)
_TOP = ("gioi", "tot", "xuat sac", "excellent", "good")
_KHA = ("kha", "fairly good")
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,2}(?:[.,]\d)?)(?![\w])")
_TERM_ABBR = {Term.HK1: "HK1", Term.HK2: "HK2"}


def asks_chart(folded: str) -> bool:
    return any(contains_phrase(folded, p) for p in CHART_PHRASES)


def asks_needed(folded: str) -> bool:
    return any(contains_phrase(folded, p) for p in NEED_PHRASES)


def target_score(text: str) -> Decimal | None:
    """The average asked for: the last number 0–10 in the message ("toán được 8", "8,5").

    Read from the text as typed: folding turns "8,5" into "8 5"."""
    for raw in reversed(_NUMBER.findall(text)):
        value = Decimal(raw.replace(",", "."))
        if Decimal(0) < value <= Decimal(10):
            return value
    return None


def beyond_scale(text: str) -> bool:
    """A number asked for that no score can be ("toán được 15"), and no number 0–10."""
    numbers = [Decimal(raw.replace(",", ".")) for raw in _NUMBER.findall(text)]
    return bool(numbers) and target_score(text) is None and any(n > 10 for n in numbers)


def asks_level(turn: Turn, folded: str) -> bool:
    """ "cần mấy điểm để đạt học sinh giỏi / loại khá": a level, not one subject's average
    ("học sinh" is no subject, although "sinh" alone is biology)."""
    return target_level(folded) is not None and target_score(turn.text or folded) is None


def target_level(folded: str) -> LearningLevel | None:
    if any(contains_phrase(folded, p) for p in _TOP):
        return LearningLevel.TOT
    if any(contains_phrase(folded, p) for p in _KHA):
        return LearningLevel.KHA
    return None


def _level(turn: Turn, level: LearningLevel) -> str:
    return turn.t(f"scores.level_{level.value}")


def _term_label(turn: Turn, term: Term) -> str:
    return turn.t(f"scores.term_{int(term)}")


def average_of(s: SubjectScores) -> Decimal | None:
    if s.form is GradingForm.COMMENT:
        return None
    working = term_average(s.regular, s.midterm, s.final)
    return working.rounded if working else None


# --- the level and the change, for the scores answer ----------------------------------------


def level_and_change(
    turn: Turn, average: Decimal, previous: Decimal | None, previous_term: Term | None
) -> str:
    """ "Khá · ↑ 0,4 so với HK1": the level this average points to and the change."""
    text = _level(turn, subject_level(average))
    if previous is None or previous_term is None:
        return text
    diff = average - previous
    if diff == 0:
        change = turn.t("scores_explained.same", term=_TERM_ABBR[previous_term])
    else:
        arrow = "↑" if diff > 0 else "↓"
        change = turn.t(
            "scores_explained.change",
            arrow=arrow,
            diff=format_average(abs(diff), turn.locale),
            term=_TERM_ABBR[previous_term],
        )
    return f"{text} · {change}"


async def previous_averages(turn: Turn, child: Student, term: Term) -> dict[str, Decimal]:
    """The subject averages of the term before ``term`` (HK1 before HK2; none before HK1)."""
    if term is not Term.HK2:
        return {}
    out = {}
    for s in await turn.backend.scores(child.id, Term.HK1):
        avg = average_of(s)
        if avg is not None:
            out[s.subject_code] = avg
    return out


# --- what does my child need? ---------------------------------------------------------------


def _need_text(turn: Turn, need: Need, subject: str, exam_key: str) -> str:
    loc = turn.locale
    target = format_average(need.target, loc)
    if need.kind is NeedKind.GUARANTEED:
        return turn.t("scores_explained.need_guaranteed", subject=subject, target=target)
    if need.kind is NeedKind.UNREACHABLE:
        best = format_average(need.best or Decimal(0), loc)
        if exam_key == "scores_explained.need_term2":
            return turn.t(
                "scores_explained.year_unreachable", subject=subject, target=target, best=best
            )
        return turn.t(
            "scores_explained.need_unreachable", subject=subject, target=target, best=best
        )
    score = format_score(need.score or Decimal(0), loc)
    if need.weighted is not None:
        return turn.t(
            "scores_explained.need_both",
            subject=subject,
            target=target,
            score=score,
            weighted=format_score(need.weighted, loc),
        )
    return turn.t(exam_key, subject=subject, target=target, score=score)


_THRESHOLDS = (Decimal("5.0"), Decimal("6.5"), Decimal("8.0"))


def _default_target(average: Decimal) -> Decimal:
    """No number asked: the next TT22 threshold above where the subject stands."""
    for threshold in (Decimal("5.0"), Decimal("6.5"), Decimal("8.0"), Decimal("9.0")):
        if average < threshold:
            return threshold
    return Decimal("10.0")


def subject_need(turn: Turn, s: SubjectScores, term: Term, folded: str) -> str:
    """The marks one subject needs for the asked average (or the next threshold)."""
    if s.form is GradingForm.COMMENT:
        return turn.t("scores_explained.need_comment", subject=s.subject_name)
    if beyond_scale(turn.text or folded):
        return turn.t("scores_explained.beyond_scale", subject=s.subject_name)
    asked = target_score(turn.text or folded)
    average = average_of(s)
    if average is not None:
        lines = [
            turn.t(
                "scores_explained.term_final",
                subject=s.subject_name,
                term=_term_label(turn, term),
                average=format_average(average, turn.locale),
            )
        ]
        if term is Term.HK1:  # the year is still open: what semester II needs
            target = asked or _default_target(average)
            lines.append(
                _need_text(
                    turn,
                    needed_term2(average, target),
                    s.subject_name,
                    "scores_explained.need_term2",
                )
            )
        return "\n".join(lines)
    # no number asked: each TT22 threshold (Đạt, Khá, Tốt) not yet certain, up to the first
    # one out of reach
    targets = [asked] if asked is not None else list(_THRESHOLDS)
    lines = []
    for target in targets:
        if s.midterm is None:
            need = needed_midterm_and_final(s.regular, target)
        else:
            need = needed_final(s.regular, s.midterm, target)
        if need.kind is NeedKind.GUARANTEED and asked is None and target != targets[-1]:
            continue
        lines.append(_need_text(turn, need, s.subject_name, "scores_explained.need_final"))
        if need.kind is NeedKind.UNREACHABLE:
            break
    if s.required_regular and len(s.regular) < s.required_regular:
        lines.append(turn.t("scores_explained.need_assumes_regular"))
    return "\n".join(lines)


def level_need(
    turn: Turn, subjects: Sequence[SubjectScores], term: Term, folded: str, who: str
) -> str:
    """The marks the term's open subjects need for the next (or the asked) learning level."""
    final: dict[str, Decimal] = {}
    open_subjects: list[OpenSubject] = []
    comments: dict[str, bool] = {}
    names = {s.subject_code: s.subject_name for s in subjects}
    for s in subjects:
        if s.form is GradingForm.COMMENT:
            result = comment_result(s.comment_results, s.required_regular or len(s.comment_results))
            comments[s.subject_code] = result is not False  # not yet graded: counted on as Đạt
            continue
        avg = average_of(s)
        if avg is not None:
            final[s.subject_code] = avg
        else:
            open_subjects.append(
                OpenSubject(code=s.subject_code, regular=s.regular, midterm=s.midterm)
            )
    term_label = _term_label(turn, term)
    if not open_subjects:
        level = learning_level(final, comments) if final else LearningLevel.CHUA_DAT
        return turn.t(
            "scores_explained.level_final", term=term_label, child=who, level=_level(turn, level)
        )
    now = dict(final)
    now.update({s.code: projected(s) for s in open_subjects})
    current = learning_level(now, comments)
    asked = target_level(folded)
    target = asked or better_level(current)
    plan = needed_for_level(target, final, open_subjects, comments)
    no_midterm = frozenset(s.code for s in open_subjects if s.midterm is None)
    return _plan_text(turn, plan, names, term_label, who, no_midterm)


def _plan_text(
    turn: Turn,
    plan: LevelPlan,
    names: dict[str, str],
    term_label: str,
    who: str,
    no_midterm: frozenset[str] = frozenset(),
) -> str:
    level = _level(turn, plan.target)
    if plan.kind is NeedKind.GUARANTEED:
        return turn.t("scores_explained.level_guaranteed", term=term_label, child=who, level=level)
    if plan.kind is NeedKind.UNREACHABLE:
        best = _level(turn, plan.best or LearningLevel.CHUA_DAT)
        blockers = ", ".join(names.get(code, code) for code in plan.blockers)
        return turn.t(
            "scores_explained.level_unreachable",
            term=term_label,
            child=who,
            level=level,
            best=best,
            blockers=blockers or "—",
        )
    lines = [turn.t("scores_explained.level_plan", term=term_label, child=who, level=level)]
    for code, score in sorted(plan.needs.items(), key=lambda kv: names.get(kv[0], kv[0])):
        lines.append(
            turn.t(
                "scores_explained.level_plan_line_both"
                if code in no_midterm
                else "scores_explained.level_plan_line",
                subject=names.get(code, code),
                score=format_score(score, turn.locale),
            )
        )
    lines.append(turn.t("scores_explained.level_plan_note"))
    return "\n".join(lines)


# --- the trend chart ------------------------------------------------------------------------


async def chart(
    turn: Turn, child: Student, one: SubjectScores | None, who: str, current: Term
) -> list[Reply]:
    """One subject: its marks in order (TX…, GK, CK) per term; else every scored subject's
    averages per term. A PNG where the channel shows images, a sparkline elsewhere."""
    terms: list[tuple[Term, list[SubjectScores]]] = []
    for term in (Term.HK1, Term.HK2):
        if term > current:
            break
        subjects = list(await turn.backend.scores(child.id, term))
        if subjects:
            terms.append((term, subjects))
    series: list[Series] = []
    if one is not None:
        points: list[tuple[str, Decimal]] = []
        for term, subjects in terms:
            for s in subjects:
                if s.subject_code != one.subject_code or s.form is GradingForm.COMMENT:
                    continue
                prefix = f"{_TERM_ABBR[term]} " if len(terms) > 1 else ""
                points += [(f"{prefix}TX{i}", v) for i, v in enumerate(s.regular, 1)]
                if s.midterm is not None:
                    points.append((f"{prefix}GK", s.midterm))
                if s.final is not None:
                    points.append((f"{prefix}CK", s.final))
        if points:
            series.append(Series(name=one.subject_name, points=tuple(points)))
        title = turn.t("scores_explained.chart_title_subject", subject=one.subject_name, child=who)
        x_label = turn.t("scores_explained.chart_x_marks")
    else:
        names: dict[str, str] = {}
        per_subject: dict[str, list[tuple[str, Decimal]]] = {}
        for term, subjects in terms:
            for s in subjects:
                avg = average_of(s)
                if avg is not None:
                    names[s.subject_code] = s.subject_name
                    per_subject.setdefault(s.subject_code, []).append((_TERM_ABBR[term], avg))
        series = [Series(name=names[c], points=tuple(p)) for c, p in per_subject.items()]
        title = turn.t("scores_explained.chart_title", child=who)
        x_label = turn.t(
            "scores_explained.chart_x_terms"
            if any(len(x.points) > 1 for x in series)
            else "scores_explained.chart_x_subjects"
        )
    if not series:
        return [Reply(text=turn.t("scores_explained.chart_empty", child=who), private_only=True)]
    lines = [title]
    for line in series:
        values = [v for _, v in line.points]
        first, last = (
            format_average(values[0], turn.locale),
            format_average(values[-1], turn.locale),
        )
        lines.append(
            f"{line.name}: {first} {sparkline(values)} {last}"
            if len(values) > 1
            else f"{line.name}: {first}"
        )
    text = "\n".join(lines)
    caps = turn.services.capabilities.get(turn.key.channel)
    if caps is None or not caps.images:
        return [Reply(text=text, private_only=True)]
    png = trend_png(
        series, title=title, x_label=x_label, y_label=turn.t("scores_explained.chart_y")
    )
    return [Reply(text=text, image_png=png, private_only=True)]
