"""Scores that explain themselves (issue 16): the level and change under each average, what a
child needs for a target, and the trend chart (a photo, or a sparkline on text-only channels)."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import cast

import pytest
from matplotlib import image as mpimg

from bot.bootstrap import App
from bot.domain.models import GradingForm, SchoolInfo, SubjectScores, Term
from bot.ports import SchoolBackend
from tests.chat import Chat, demo_app
from tests.fakes.ports import FakeClock, RecordingOtpSender

VAN = "ngu_van"
HUY = "HS8A03"  # Phạm Quang Huy (8A): Toán HKI 6,4 (TX 6,5 · 6 · 6,5 · 6; GK 6,5; CK 6,5)


async def test_explained_average_shows_the_level(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app)
    await chat.link(HUY, sms)
    await chat.say("điểm toán")
    assert "= 57,5 / 9 = 6,389" in chat.text and "→ làm tròn một chữ số thập phân: 6,4" in chat.text
    assert "Mức đạt được: Đạt" in chat.text
    assert chat.buttons() == ["📈 Biểu đồ điểm"]
    await chat.say("điểm")
    assert "• Toán: 6,4 — Đạt" in chat.text
    assert "• Lịch sử và Địa lí: 7,3 — Khá" in chat.text
    assert "so với" not in chat.text  # HKI has no term before it


async def test_needed_score_once_the_term_is_complete_points_to_the_year(
    app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(app)
    await chat.link(HUY, sms)
    for asked in (
        "cần bao nhiêu điểm cuối kỳ để toán được 8",
        "can bao nhieu diem cuoi ky de toan duoc 8",
    ):
        await chat.say(asked)
        assert "Môn Toán học kỳ I đã đủ điểm: trung bình 6,4." in chat.text, chat.text
        # (6.4 + 2 × 8.8) / 3 = 8.0; 8.7 gives 7.93 -> 7.9
        assert "điểm trung bình học kỳ II cần ít nhất 8,8" in chat.text
    await chat.say("can bao nhieu diem de toan duoc 9,5")
    assert "không còn đạt được trung bình cả năm 9,5" in chat.text
    assert "Cao nhất cả năm con có thể đạt là 8,8" in chat.text  # (6.4 + 20) / 3
    # a mark no score can be is named, not swapped for another target
    await chat.say("cần bao nhiêu điểm cuối kỳ để toán được 15")
    assert "thang 10" in chat.text and "học kỳ II cần" not in chat.text, chat.text
    await chat.say("con cần mấy điểm nữa để đạt học sinh giỏi")
    assert "Khoa học tự nhiên" not in chat.text  # "học sinh" is no subject (biology)
    assert "đã đủ điểm: Đạt" in chat.text


async def test_chart_is_a_photo_with_vietnamese_labels(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app)
    await chat.link(HUY, sms)
    for asked in ("biểu đồ điểm", "bieu do diem"):
        [reply] = await chat.say(asked)
        assert reply.image_png is not None and reply.private_only
        assert "Toán: 6,4" in reply.text
        pixels = mpimg.imread(io.BytesIO(reply.image_png), format="png")
        assert pixels.shape[:2] == (500, 800)
    [reply] = await chat.say("xem tiến bộ môn văn")
    assert reply.image_png is not None
    assert reply.text.startswith("📈 Điểm môn Ngữ văn")
    assert "▁" in reply.text  # the marks in order, as a sparkline too
    await chat.say("điểm")
    [reply] = await chat.press("Biểu đồ điểm")
    assert reply.image_png is not None and "Điểm trung bình các môn" in reply.text


async def test_text_only_channel_gets_a_sparkline(app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(app, channel="memory_text", user="zalo-like")
    await chat.link(HUY, sms)
    [reply] = await chat.say("xem tiến bộ môn văn")
    assert reply.image_png is None
    line = next(x for x in reply.text.splitlines() if x.startswith("Ngữ văn:"))
    assert any(bar in line for bar in "▁▂▃▄▅▆▇█"), line


# --- a school in semester II, with one exam still to come -------------------------------


class SecondTerm:
    """The demo school in semester II: HKII marks are HKI's plus 0.5 (capped at 10); Toán has
    no final exam yet, Ngữ văn neither exam."""

    def __init__(self, inner: SchoolBackend) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def school_info(self) -> SchoolInfo:
        info = await self._inner.school_info()
        return dataclasses.replace(info, current_term=Term.HK2)

    async def scores(self, student_id: str, term: Term) -> Sequence[SubjectScores]:
        first = await self._inner.scores(student_id, Term.HK1)
        if term is Term.HK1:
            return first
        return [self._second(s) for s in first]

    @staticmethod
    def _second(s: SubjectScores) -> SubjectScores:
        if s.form is GradingForm.COMMENT:
            return dataclasses.replace(s, term=Term.HK2)

        def up(x: Decimal | None) -> Decimal | None:
            return None if x is None else min(x + Decimal("0.5"), Decimal(10))

        no_exam = s.subject_code == VAN  # neither exam yet
        return dataclasses.replace(
            s,
            term=Term.HK2,
            regular=tuple(min(x + Decimal("0.5"), Decimal(10)) for x in s.regular),
            midterm=None if no_exam else up(s.midterm),
            final=None if s.subject_code == "toan" or no_exam else up(s.final),
        )


@pytest.fixture
async def hk2_app(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> AsyncIterator[App]:
    def wrap(backend: SchoolBackend) -> SchoolBackend:
        return cast(SchoolBackend, SecondTerm(backend))

    async with demo_app(sqlite_url, tmp_path, clock, sms, backend_wrapper=wrap) as app:
        yield app


async def test_semester_two_shows_the_change_and_the_final_exam_needed(
    hk2_app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(hk2_app)
    await chat.link(HUY, sms)
    await chat.say("điểm")
    # Lịch sử và Địa lí: HKI 7,3; every HKII mark +0.5 -> 7,8
    assert "• Lịch sử và Địa lí: 7,8 — Khá · ↑ 0,5 so với HK1" in chat.text, chat.text
    assert "• Toán: chưa đủ điểm" in chat.text
    await chat.say("điểm toán")
    assert "Chưa đủ điểm để tính trung bình môn." in chat.text
    # TX 7 · 6,5 · 7 · 6,5 (27) + 2 × GK 7 = 41: each TT22 threshold up to the first out of reach
    assert "Để Toán đạt trung bình 5,0, con cần điểm cuối kỳ (CK) ít nhất 1,2." in chat.text
    assert "Để Toán đạt trung bình 6,5, con cần điểm cuối kỳ (CK) ít nhất 5,7." in chat.text
    assert "Môn Toán không còn đạt được trung bình 8,0 (cần hơn 10 điểm)." in chat.text
    await chat.say("cần bao nhiêu điểm cuối kỳ để toán được 6,5")
    # (41 + 3 × 4,7) / 9 = 6,12 -> 6,1; 6,45 × 9 = 58,05 -> CK ≥ 5,7 (58,1 / 9 = 6,46 -> 6,5)
    assert "con cần điểm cuối kỳ (CK) ít nhất 5,7" in chat.text, chat.text
    await chat.say("can bao nhieu diem cuoi ky de toan duoc 9")
    assert "không còn đạt được trung bình 9,0" in chat.text
    assert "Cao nhất con có thể đạt là 7,9" in chat.text  # (41 + 30) / 9 = 7,89
    await chat.say("cần bao nhiêu điểm để văn được 7")
    assert "Môn Ngữ văn chưa có điểm giữa kỳ. Để đạt trung bình 7,0, con cần 2×GK + 3×CK" in (
        chat.text
    )
    await chat.say("con cần mấy điểm nữa để đạt loại khá")
    assert "đạt mức Khá học kỳ II, con cần ít nhất:" in chat.text
    # five final subjects ≥ 6,5: the cheapest open one (Toán, CK 5,7) is lifted to 6,5, and
    # Ngữ văn (no exam yet) only needs 5,0
    assert "• Ngữ văn: 3,2 điểm cả giữa kỳ và cuối kỳ\n• Toán: 5,7 điểm cuối kỳ" in chat.text
    # Tin học: HKI 5,7 -> HKII 6,2 (< 6,5): Tốt is out of reach, Khá is the best
    for asked in ("con cần mấy điểm nữa để đạt học sinh giỏi", "cần mấy điểm để lên mức tiếp theo"):
        await chat.say(asked)
        assert "không còn đạt được mức Tốt học kỳ II (vướng: Tin học)" in chat.text, asked
        assert "Cao nhất con có thể đạt là mức Khá." in chat.text


async def test_semester_two_chart_draws_both_terms(hk2_app: App, sms: RecordingOtpSender) -> None:
    chat = Chat(hk2_app)
    await chat.link(HUY, sms)
    [reply] = await chat.say("biểu đồ điểm")
    assert reply.image_png is not None
    assert "Lịch sử và Địa lí: 7,3 ▁█ 7,8" in reply.text, reply.text
    [reply] = await chat.say("xem tiến bộ môn toán")
    assert reply.image_png is not None and "HK2" not in reply.text
