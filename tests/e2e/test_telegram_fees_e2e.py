"""The real bot process on the fake Bot API (issue 16): a parent asks "học phí" and receives
the bank details as text and the VietQR as a photo, the same picture the core drew."""

from __future__ import annotations

import pytest

from bot.backends.demo_data import build_demo_school
from bot.domain.models import BankAccount
from bot.domain.payments import fee_memo, qr_payload, qr_png
from tests.e2e.test_telegram_e2e import WAIT, BotProcess, link, say
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.telegram_api import FakeTelegramApi

pytestmark = pytest.mark.e2e

MOM_7A02 = "0900000015"  # the only guardian of HS7A02, whose health insurance is unpaid
BANK = BankAccount(
    bank_name="Vietcombank",
    bank_bin="970436",
    account="0011004455667",
    account_name="TRUONG THCS DEMO",
)


def test_parent_receives_the_vietqr_as_a_photo(
    bot: BotProcess, api: FakeTelegramApi, sms: FakeSmsGateway
) -> None:
    bot.start(
        LIENLAC_PAYMENT__BANK_NAME=BANK.bank_name,
        LIENLAC_PAYMENT__BANK_BIN=BANK.bank_bin,
        LIENLAC_PAYMENT__ACCOUNT=BANK.account,
        LIENLAC_PAYMENT__ACCOUNT_NAME=BANK.account_name,
    )
    chat = 7_002
    link(api, sms, chat, "HS7A02", MOM_7A02)
    photos_before = len(api.calls_to("sendPhoto"))
    summary = say(api, chat, "học phí", "Còn phải nộp")
    assert "631.800 ₫" in summary["text"]
    assert "không bao giờ yêu cầu nộp tiền theo cách nào khác" in summary["text"]
    bhyt = next(
        f
        for f in build_demo_school().fees
        if f.student_id == "st-7a-02" and f.mandatory and not f.paid
    )
    memo = fee_memo(BANK, "demo", bhyt)
    bank_text = api.wait_for(chat, "Số tài khoản: 0011004455667", WAIT)
    assert memo in bank_text["text"] and "TRUONG THCS DEMO" in bank_text["text"]
    api.wait_until(
        lambda: len(api.calls_to("sendPhoto")) > photos_before, WAIT, what="the VietQR photo"
    )
    photo = api.calls_to("sendPhoto")[-1]
    assert str(photo.params["chat_id"]) == str(chat)
    sent = photo.params["photo"]
    assert sent.data == qr_png(qr_payload(BANK, "demo", bhyt))
    assert sent.data.startswith(b"\x89PNG")
    records = [r for r in api.sent(chat) if r["method"] == "sendPhoto"]
    assert records and records[-1]["message"]["photo"]
    bot.stop()
    bot.assert_clean()
