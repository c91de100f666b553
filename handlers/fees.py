"""Fee items (khoản thu): amount, due date, paid or not, mandatory or voluntary, and for each
unpaid mandatory fee how to pay it: the school's bank details as text and a VietQR code that
fills in the amount and a memo naming the pupil and the fee (bot.domain.payments)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.domain.formatting import format_date, format_vnd
from bot.domain.models import BankAccount, FeeItem, Student
from bot.domain.payments import fee_memo, qr_payload, qr_png
from bot.domain.vietqr import decode
from bot.messages import Reply
from bot.ports import Capability
from bot.turn import Turn
from handlers.common import child_label, query, query_feature
from handlers.intents import IntentName, fee_item_phrases
from handlers.normalise import _one_slip

INTENT = "fees"

log = logging.getLogger(__name__)


def _payment(turn: Turn, bank: BankAccount, fee: FeeItem) -> Reply:
    """Bank details as text (every channel) and the VietQR (channels that show images)."""
    amount = format_vnd(fee.amount)
    memo = fee_memo(bank, turn.key.school_id, fee)
    text = "\n".join(
        (
            turn.t(
                "fees.pay_title",
                fee=fee.name,
                amount=amount,
                date=format_date(fee.due_date) if fee.due_date else "—",
            ),
            turn.t(
                "fees.pay_bank",
                bank=bank.bank_name,
                account=bank.account,
                name=bank.account_name,
                amount=amount,
                memo=memo,
            ),
        )
    )
    try:
        payload = qr_payload(bank, turn.key.school_id, fee)
        # Our own strict decoder checks what the bank app will read: account, amount, memo.
        read = decode(payload)
        if (read.account, read.amount, read.purpose) != (bank.account, fee.amount, memo):
            raise ValueError("the VietQR does not say what the text says")
    except ValueError:  # e.g. an amount of 0 ₫ from the school system: text only
        log.warning("no VietQR for a fee item of school %s", turn.key.school_id)
        return Reply(text=text, private_only=True)
    return Reply(text=text, image_png=qr_png(payload), private_only=True)


def _words_match(typed: Sequence[str], phrase: Sequence[str]) -> bool:
    """``phrase`` occurs in ``typed`` word for word, each word as written or with one slip
    of the keyboard when it is long enough to tell ("bao hiem y tee")."""
    n = len(phrase)
    for start in range(len(typed) - n + 1):
        window = typed[start : start + n]
        if all(
            a == b or (len(b) >= 4 and _one_slip(a, b)) for a, b in zip(window, phrase, strict=True)
        ):
            return True
    return False


def named_items(folded: str, items: Sequence[FeeItem]) -> list[FeeItem]:
    """The fee items a question names ("tiền ăn bán trú còn nợ không" -> the meals item),
    from the items' own names (:func:`fee_item_phrases`): the ones named by the longest
    phrase; none when the question names no item (then the whole list is the answer)."""
    typed = folded.split()
    if not typed:
        return []
    scored: list[tuple[int, FeeItem]] = []
    for item in items:
        best = max(
            (
                len(p.split())
                for p in fee_item_phrases([item.name])
                if _words_match(typed, p.split())
            ),
            default=0,
        )
        if best:
            scored.append((best, item))
    top = max((score for score, _ in scored), default=0)
    return [item for score, item in scored if score == top]


def _line(turn: Turn, item: FeeItem) -> str:
    """One item: mark, name, amount, mandatory or not, paid or due (overdue)."""
    kind = turn.t("fees.mandatory") if item.mandatory else turn.t("fees.voluntary")
    if item.paid:
        status = (
            turn.t("fees.paid", date=format_date(item.paid_at.date()))
            if item.paid_at
            else turn.t("fees.paid_no_date")
        )
        mark = "✅"
    else:
        due = format_date(item.due_date) if item.due_date else "—"
        overdue = item.due_date is not None and item.due_date < turn.today()
        status = turn.t("fees.overdue", date=due) if overdue else turn.t("fees.due", date=due)
        mark = "⚠️" if overdue else "⏳"
    return f"{mark} {item.name}: {format_vnd(item.amount)} ({kind}) — {status}"


def _named_answer(turn: Turn, who: str, named: Sequence[FeeItem]) -> list[Reply]:
    """Only the items the parent named, each unpaid one with its way to pay (issue 16)."""
    bank = turn.services.bank
    lines = [turn.t("fees.item_title", child=who)]
    lines.extend(_line(turn, item) for item in named)
    unpaid = [item for item in named if not item.paid]
    lines.append("")
    if not unpaid:
        lines.append(turn.t("fees.item_paid"))
    elif bank is not None:
        lines.append(turn.t("fees.pay_hint"))
    lines.append(turn.t("fees.item_more"))
    lines.append("")
    lines.append(turn.t("fees.scam_warning" if bank is not None else "fees.scam_warning_no_bank"))
    replies = [Reply(text="\n".join(lines), private_only=True)]
    if bank is not None:
        replies.extend(_payment(turn, bank, item) for item in unpaid)
    return replies


async def _answer(turn: Turn, child: Student, folded: str) -> list[Reply]:
    # A backend answers for the pupil asked about; a row for anyone else is never shown.
    items = [item for item in await turn.backend.fees(child.id) if item.student_id == child.id]
    who = child_label(child)
    if not items:
        return [Reply(text=turn.t("fees.none", child=who), private_only=True)]
    named = named_items(folded, items)
    if named:
        return _named_answer(turn, who, named)
    bank = turn.services.bank
    lines = [turn.t("fees.title", child=who)]
    unpaid = 0  # the mandatory fees still due; a voluntary one is the family's choice
    voluntary_open = 0
    to_pay: list[FeeItem] = []
    for item in items:
        if not item.paid:
            if item.mandatory:
                unpaid += item.amount
                to_pay.append(item)
            else:
                voluntary_open += item.amount
        lines.append(_line(turn, item))
    lines.append("")
    lines.append(
        turn.t("fees.total_unpaid", amount=format_vnd(unpaid))
        if unpaid
        else turn.t("fees.all_paid")
    )
    if voluntary_open:
        lines.append(turn.t("fees.voluntary_open", amount=format_vnd(voluntary_open)))
    if bank is not None and to_pay:
        lines.append("")
        lines.append(turn.t("fees.pay_hint"))
    lines.append("")
    lines.append(turn.t("fees.scam_warning" if bank is not None else "fees.scam_warning_no_bank"))
    replies = [Reply(text="\n".join(lines), private_only=True)]
    if bank is not None:
        replies.extend(_payment(turn, bank, item) for item in to_pay)
    return replies


handle = query(INTENT, Capability.FEES, _answer)
FEATURE = query_feature(INTENT, handle, intent=IntentName.FEES)
