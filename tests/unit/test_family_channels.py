"""How one family can be reached (issue 16/18): the one function ``run_bot.py stats`` and the
office's web page both count with (``bot.stats.family_channels``)."""

from __future__ import annotations

from bot.domain.models import Guardian
from bot.stats import family_channels

GRANNY = Guardian(id="g-1", name="Bà Lan", phone="0900000001", relation="Bà", sms_only=True)
NO_PHONE = Guardian(id="g-2", name="Ông Ba", phone="", relation="Ông", sms_only=True)
MOTHER = Guardian(id="g-3", name="Mẹ Hoa", phone="0900000003", relation="Mẹ")


def test_chats_are_grouped_by_platform() -> None:
    assert family_channels({"telegram", "zalo_oa"}, [MOTHER], sms_provider=True) == {
        "telegram",
        "zalo",
    }
    assert family_channels({"zalo_bot", "memory"}, [], sms_provider=False) == {"zalo", "other"}


def test_sms_needs_a_guardian_marked_sms_only_with_a_phone_and_a_provider() -> None:
    assert family_channels(set(), [GRANNY], sms_provider=True) == {"sms"}
    assert family_channels(set(), [GRANNY], sms_provider=False) == frozenset()
    assert family_channels(set(), [NO_PHONE, MOTHER], sms_provider=True) == frozenset()
    assert family_channels({"telegram"}, [GRANNY], sms_provider=True) == {"telegram", "sms"}
