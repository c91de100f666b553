"""Paying a fee (issue 16): the amounts, the school's bank details as text, and a VietQR that
says the same thing, for the parent's own child only, with the anti-scam line."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.bootstrap import DEMO_BANK, App, bank_account
from bot.config import PaymentSettings, SchoolSettings
from bot.domain.models import BankAccount
from bot.domain.payments import fee_memo, qr_payload, qr_png
from bot.domain.vietqr import decode
from tests.chat import Chat, demo_app
from tests.fakes.ports import FakeClock, RecordingOtpSender

OWES_BHYT = "HS7A02"  # the demo pupil whose health insurance (631.800 ₫, mandatory) is unpaid
OTHER = "HS8A03"  # another family
PAYMENT = PaymentSettings(
    bank_name="Vietcombank",
    bank_bin="970436",
    account="0011004455667",
    account_name="TRUONG THCS DEMO",
)
BANK = BankAccount(
    bank_name="Vietcombank",
    bank_bin="970436",
    account="0011004455667",
    account_name="TRUONG THCS DEMO",
)


@pytest.fixture
async def paying_app(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> AsyncIterator[App]:
    async with demo_app(sqlite_url, tmp_path, clock, sms, payment=PAYMENT) as built:
        yield built


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR, after checking the signature and the chunk CRC."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    data = png[16:29]
    assert struct.unpack(">I", png[29:33])[0] == zlib.crc32(kind + data)
    width, height = struct.unpack(">II", data[:8])
    return width, height


async def test_parent_gets_amount_bank_text_and_a_scannable_vietqr(
    paying_app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(paying_app, user="parent-7a02")
    await chat.link(OWES_BHYT, sms)
    replies = await chat.say("học phí")
    summary, *payments = replies
    assert "631.800 ₫" in summary.text and "bắt buộc" in summary.text
    assert "không bao giờ yêu cầu nộp tiền theo cách nào khác" in summary.text
    assert len(payments) == 1, chat.text  # one unpaid mandatory fee, one QR
    pay = payments[0]
    assert pay.private_only and summary.private_only
    for shown in ("Vietcombank", "0011004455667", "TRUONG THCS DEMO", "631.800 ₫"):
        assert shown in pay.text
    assert "Bảo hiểm y tế" in pay.text and "hạn nộp" in pay.text

    fees = await paying_app.services.backends.for_school("demo").fees("st-7a-02")
    bhyt = next(f for f in fees if f.mandatory and not f.paid)
    memo = fee_memo(BANK, "demo", bhyt)
    assert memo in pay.text and memo.isascii() and len(memo) <= 25
    assert "HS7A02" not in memo  # the memo names the fee, not the child's code
    payload = qr_payload(BANK, "demo", bhyt)
    read = decode(payload)  # the strict decoder accepts what the parent's bank app will read
    assert (read.bank_bin, read.account, read.amount, read.purpose, read.dynamic) == (
        "970436",
        "0011004455667",
        631_800,
        memo,
        True,
    )
    # No QR decoder is locked; segno is deterministic, so the picture sent is exactly the
    # picture of this payload.
    assert pay.image_png == qr_png(payload)
    width, height = png_size(pay.image_png)
    assert width == height >= 300


async def test_english_answer_and_help_say_the_school_never_asks_otherwise(
    paying_app: App, sms: RecordingOtpSender
) -> None:
    chat = Chat(paying_app, user="parent-en")
    await chat.link(OWES_BHYT, sms)
    await chat.say("/lang")
    await chat.press("English")
    await chat.say("fees")
    assert "Account number: 0011004455667" in chat.text
    assert "never asks for money in any other way" in chat.text
    await chat.say("help")
    assert "never asks for money in any other way" in chat.text


async def test_another_family_never_sees_this_childs_payment(
    paying_app: App, sms: RecordingOtpSender
) -> None:
    owner = Chat(paying_app, user="owner")
    await owner.link(OWES_BHYT, sms)
    await owner.say("học phí")
    theirs = {r.text for r in owner.last[1:]}
    images = {r.image_png for r in owner.last if r.image_png}
    other = Chat(paying_app, user="stranger")
    await other.link(OTHER, sms)
    await other.say("học phí")
    assert not theirs & {r.text for r in other.last}
    assert not images & {r.image_png for r in other.last}
    assert "HS7A02" not in other.text and "Bảo hiểm y tế" in other.text


async def test_the_demo_school_shows_a_demo_account_that_says_not_to_pay(
    app: App, sms: RecordingOtpSender
) -> None:
    """Nothing configured: the seeded demo still shows the QR, on an account no bank issues."""
    chat = Chat(app, user="parent-demo")
    await chat.link(OWES_BHYT, sms)
    await chat.say("học phí")
    assert "631.800 ₫" in chat.text
    assert DEMO_BANK.account_name in chat.text and "0000000000" in chat.text
    [png] = [r.image_png for r in chat.last if r.image_png]
    fees = await app.services.backends.for_school("demo").fees("st-7a-02")
    bhyt = next(f for f in fees if f.mandatory and not f.paid)
    assert png == qr_png(qr_payload(DEMO_BANK, "demo", bhyt))


def test_without_bank_details_no_account_is_shown() -> None:
    assert bank_account(PaymentSettings()) is None  # a real school without a [payment] block
    assert bank_account(PaymentSettings(), demo=True) == DEMO_BANK
    assert bank_account(PAYMENT, demo=True) == BANK  # the demo's own block wins


async def test_a_schools_own_payment_block_wins(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingOtpSender
) -> None:
    own = PAYMENT.model_copy(update={"account": "9988776655", "bank_name": "BIDV"})
    own = own.model_copy(update={"bank_bin": "970418"})
    async with demo_app(
        sqlite_url,
        tmp_path,
        clock,
        sms,
        payment=PAYMENT,
        schools=[SchoolSettings(id="demo", payment=own)],
    ) as built:
        chat = Chat(built, user="parent-own")
        await chat.link(OWES_BHYT, sms)
        await chat.say("học phí")
        assert "9988776655" in chat.text and "BIDV" in chat.text
        qr = [r for r in chat.last if r.image_png]
        assert len(qr) == 1


async def test_a_question_naming_one_fee_answers_that_fee_with_its_qr(
    paying_app: App, sms: RecordingOtpSender
) -> None:
    """Issue 16: "tiền ăn bán trú còn nợ không" is about the meals, not the whole list: the
    item's amount, due date and state, and its own VietQR while it is unpaid."""
    chat = Chat(paying_app, user="parent-meals")
    await chat.link(OWES_BHYT, sms)
    fees = await paying_app.services.backends.for_school("demo").fees("st-7a-02")
    meals = next(f for f in fees if f.name.startswith("Tiền ăn bán trú"))

    answer, payment = await chat.say("tiền ăn bán trú còn nợ không")
    assert "Tiền ăn bán trú tháng 11: 650.000 ₫" in answer.text
    assert "quá hạn từ 10/11/2026" in answer.text  # today is 23/11/2026
    for other in ("Bảo hiểm y tế", "Nước uống", "Quỹ Ban đại diện"):
        assert other not in answer.text
    assert "không bao giờ yêu cầu nộp tiền theo cách nào khác" in answer.text
    assert payment.image_png is not None and "650.000 ₫" in payment.text
    read = decode(qr_payload(BANK, "demo", meals))
    assert read.amount == 650_000 and payment.image_png == qr_png(qr_payload(BANK, "demo", meals))

    await chat.say("bảo hiểm y tế bao nhiêu")
    assert "Bảo hiểm y tế học sinh (12 tháng): 631.800 ₫" in chat.text
    assert "Tiền ăn" not in chat.last[0].text
    assert len([r for r in chat.last if r.image_png]) == 1

    await chat.say("bhyt con no ko")  # no accents, an abbreviation
    assert "Bảo hiểm y tế học sinh (12 tháng): 631.800 ₫" in chat.last[0].text
    assert "Tiền ăn" not in chat.last[0].text

    await chat.say("nuoc uong dong chua")  # paid: said so, no QR
    assert "Nước uống tháng 11: 20.000 ₫" in chat.text and "đã nộp xong" in chat.text
    assert not [r for r in chat.last if r.image_png]

    await chat.say("còn phải nộp những khoản gì")  # no item named: the whole list
    for name in ("Bảo hiểm y tế", "Tiền ăn bán trú", "Nước uống", "Quỹ Ban đại diện"):
        assert name in chat.last[0].text


async def test_a_named_fee_of_another_family_is_never_shown(
    paying_app: App, sms: RecordingOtpSender
) -> None:
    owner = Chat(paying_app, user="owner-meals")
    await owner.link(OWES_BHYT, sms)
    await owner.say("tiền ăn bán trú")
    other = Chat(paying_app, user="stranger-meals")
    await other.link(OTHER, sms)
    await other.say("tiền ăn bán trú")
    assert "HS7A02" not in other.text
    assert not {r.image_png for r in owner.last if r.image_png} & {
        r.image_png for r in other.last if r.image_png
    }
