"""Outbox queue statistics per school: for ``python run_bot.py stats`` and ``/metrics``.

No personal data: only school ids and counts.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from bot.domain.models import Guardian
from bot.i18n import Catalog
from bot.outbox import OutboxStore, SchoolQueueStats
from bot.ports import Family

__all__ = [
    "AbsenceStats",
    "OtpStats",
    "Reach",
    "SchoolQueueStats",
    "collect_stats",
    "family_channels",
    "format_absence_stats",
    "format_age",
    "format_reach",
    "format_stats",
    "outbox_metrics",
    "reachability",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsenceStats:
    """Leave requests of one school that need someone: waiting for a teacher, or approved
    but not yet written to the school system (the write is being retried)."""

    school_id: str
    pending: int
    unwritten: int
    oldest_unwritten_seconds: float
    last_write_error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OtpStats:
    """One school's one-time codes in the last 24 hours (counts only)."""

    school_id: str
    sent: int
    wrong: int
    unknown_codes: int


class _OtpCaps(Protocol):
    school_sends_per_day: int
    school_alert_ratio: float


def otp_alert(row: OtpStats, caps: _OtpCaps | None, say: Say | None = None) -> str:
    """ "" when fine; else why the school's SMS bill needs a look."""
    say = say or english
    if caps is None:
        return ""
    if row.sent >= caps.school_sends_per_day:
        return say("otp_limit_reached")
    if row.sent >= caps.school_sends_per_day * caps.school_alert_ratio:
        return say("otp_alert")
    return ""


Say = Callable[..., str]  # (key in the catalogue's [ops] table, **values) -> the line


def english(key: str, /, **values: object) -> str:
    """The operator's lines in English (``run_bot.py`` passes the ``--lang`` one)."""
    return _catalog().t("en", f"ops.{key}", **values)


@functools.cache
def _catalog() -> Catalog:
    return Catalog.load()


def format_otp_stats(
    rows: Sequence[OtpStats], caps: Mapping[str, _OtpCaps], say: Say = english
) -> str:
    if not rows:
        return say("otp_none") + "\n"
    lines = [say("otp_header")]
    for r in rows:
        cap = caps.get(r.school_id)
        limit = str(cap.school_sends_per_day) if cap else "?"
        alert = otp_alert(r, cap, say)
        lines.append(
            f"{r.school_id}  {r.sent}/{limit}  {r.wrong}  {r.unknown_codes}"
            + (f"  {alert}" if alert else "")
        )
    return "\n".join(lines) + "\n"


def format_absence_stats(rows: Sequence[AbsenceStats], say: Say = english) -> str:
    if not rows:
        return say("absences_none") + "\n"
    lines = [say("absences_header")]
    for r in rows:
        age = format_age(r.oldest_unwritten_seconds) if r.unwritten else "-"
        lines.append(
            f"{r.school_id}  {r.pending}  {r.unwritten}  {age}  {r.last_write_error or '-'}"
        )
    return "\n".join(lines) + "\n"


# --- how families can be reached (issue 16) ----------------------------------------------

TELEGRAM_CHANNELS = frozenset({"telegram"})
ZALO_CHANNELS = frozenset({"zalo_bot", "zalo_oa"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Reach:
    """How one school's families can be reached. A family is a pupil and the guardians the
    school has on file for them; a family with two children counts twice, once per pupil,
    because each child's news must reach home.

    * ``telegram`` / ``zalo``: a guardian of the pupil has an active chat linked to them there;
    * ``sms``: a guardian is marked "SMS only" in the import, has a phone on file, and the
      school has an SMS provider (``LIENLAC_OTP__PROVIDER`` that texts; with ``zns`` only
      when the SMS keys are set). A phone on file alone does not count: only SMS-only
      guardians get the SMS digest;
    * paper: every family can get the printed contact book (``run_bot.py contact-book``);
      ``paper_only`` counts those reachable by no chat (any channel) and no SMS, and
      ``unreachable`` names them (class, pupil), never a phone.
    """

    school_id: str
    families: int = 0
    telegram: int = 0
    zalo: int = 0
    sms: int = 0
    paper_only: int = 0
    unreachable: tuple[tuple[str, str], ...] = ()  # (class name, pupil name)
    listed: bool = True  # False: the school's system cannot list its families
    sms_provider: bool = True


def family_channels(
    channels: Collection[str], guardians: Iterable[Guardian], *, sms_provider: bool
) -> frozenset[str]:
    """How one family can be reached: ``telegram``, ``zalo`` (and ``other`` for any other chat
    platform) from the channels of its guardians' active chat links, and ``sms`` when one of
    ``guardians`` is marked SMS only with a phone on file and the school has an SMS provider.
    Empty: only on paper. ``run_bot.py stats`` and the office's web page both count with it."""
    groups = {
        "telegram" if c in TELEGRAM_CHANNELS else "zalo" if c in ZALO_CHANNELS else "other"
        for c in channels
    }
    if sms_provider and any(g.sms_only and g.phone for g in guardians):
        groups.add("sms")
    return frozenset(groups)


def reachability(
    school_id: str,
    families: Sequence[Family],
    chats: Mapping[str, set[str]],
    *,
    sms_provider: bool,
) -> Reach:
    """Count ``families`` (from the school data) by the channels that reach them; ``chats``
    maps a pupil's id to the channels of its guardians' active chat links."""
    telegram = zalo = sms = 0
    unreachable: list[tuple[str, str]] = []
    for family in families:
        groups = family_channels(
            chats.get(family.student.id, set()), family.guardians, sms_provider=sms_provider
        )
        telegram += "telegram" in groups
        zalo += "zalo" in groups
        sms += "sms" in groups
        if not groups:
            unreachable.append((family.student.class_name, family.student.full_name))
    return Reach(
        school_id=school_id,
        families=len(families),
        telegram=telegram,
        zalo=zalo,
        sms=sms,
        paper_only=len(unreachable),
        unreachable=tuple(unreachable),
        sms_provider=sms_provider,
    )


def format_reach(rows: Sequence[Reach], say: Say = english, *, limit: int | None = 20) -> str:
    """A table of the counts, then per school the families reachable only on paper (at most
    ``limit`` names each; ``None``: all)."""
    header = tuple(
        say(f"reach_col_{name}")
        for name in ("school", "families", "telegram", "zalo", "sms", "paper_only")
    )
    lines: list[tuple[str, ...]] = [header]
    notes: list[str] = []
    for r in rows:
        if not r.listed:
            notes.append(say("reach_not_listed", school=r.school_id))
            continue
        lines.append(
            (
                r.school_id,
                str(r.families),
                str(r.telegram),
                str(r.zalo),
                str(r.sms) if r.sms_provider else "-",
                str(r.paper_only),
            )
        )
        if not r.sms_provider:
            notes.append(say("reach_no_sms_provider", school=r.school_id))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    if len(lines) > 1:
        for line in lines:
            cells = [line[0].ljust(widths[0])]
            cells += [cell.rjust(widths[i]) for i, cell in enumerate(line) if i > 0]
            out.append("  ".join(cells).rstrip())
    out.extend(notes)
    for r in rows:
        if not r.listed:
            continue
        if not r.unreachable:
            out.append(say("reach_none_unreachable", school=r.school_id))
            continue
        out.append(say("reach_unreachable", school=r.school_id, n=len(r.unreachable)))
        shown = r.unreachable if limit is None else r.unreachable[:limit]
        out.extend(f"  {class_name}  {name}" for class_name, name in shown)
        if len(shown) < len(r.unreachable):
            out.append("  " + say("reach_more", n=len(r.unreachable) - len(shown)))
    return "\n".join(out) + "\n"


async def collect_stats(
    store: OutboxStore, *, now: dt.datetime | None = None
) -> list[SchoolQueueStats]:
    """One row per school that has outbox messages, sorted by school id."""
    return await store.stats(now or dt.datetime.now(dt.UTC))


def format_age(seconds: float) -> str:
    """``45s``, ``2m05s``, ``3h04m``, ``2d03h``."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def format_stats(rows: Sequence[SchoolQueueStats], say: Say = english) -> str:
    """A small fixed-width table, one line per school, and a total line when several."""
    header = tuple(
        say(f"col_{name}")
        for name in ("school", "pending", "sent", "failed", "expired", "in_doubt", "oldest")
    )
    lines: list[tuple[str, ...]] = [header]
    for r in rows:
        age = format_age(r.oldest_pending_seconds) if r.pending else "-"
        lines.append(
            (
                r.school_id,
                str(r.pending),
                str(r.sent),
                str(r.failed),
                str(r.expired),
                str(r.in_doubt),
                age,
            )
        )
    if not rows:
        lines.append((say("no_messages"), "0", "0", "0", "0", "0", "-"))
    elif len(rows) > 1:
        oldest = max((r.oldest_pending_seconds for r in rows if r.pending), default=0.0)
        pending = sum(r.pending for r in rows)
        lines.append(
            (
                say("total"),
                str(pending),
                str(sum(r.sent for r in rows)),
                str(sum(r.failed for r in rows)),
                str(sum(r.expired for r in rows)),
                str(sum(r.in_doubt for r in rows)),
                format_age(oldest) if pending else "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for line in lines:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(widths[i]) for i, cell in enumerate(line) if i > 0]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"


def outbox_metrics(
    rows: Sequence[SchoolQueueStats],
    absences: Sequence[AbsenceStats] = (),
    otps: Sequence[OtpStats] = (),
    otp_caps: Mapping[str, _OtpCaps] | None = None,
    throttled: tuple[int, int] | None = None,
    inbox_waiting: int | None = None,
) -> bytes:
    """The rows in the Prometheus text format, from a fresh registry (safe to call per
    scrape, in any process). ``throttled``: this process's flood control (told to slow
    down, dropped); ``inbox_waiting``: webhook events stored and not yet answered."""
    registry = CollectorRegistry(auto_describe=True)
    if inbox_waiting is not None:
        Gauge(
            "lienlac_inbox_waiting",
            "Webhook events stored and not yet answered, across every process",
            registry=registry,
        ).set(inbox_waiting)
    if throttled is not None:
        floods = Gauge(
            "lienlac_throttle_floods",
            "Chat users told to slow down by this process since it started",
            registry=registry,
        )
        floods.set(throttled[0])
        dropped = Gauge(
            "lienlac_throttle_dropped",
            "Messages this process dropped unanswered in a flood since it started",
            registry=registry,
        )
        dropped.set(throttled[1])
    gauges = {
        "pending": Gauge(
            "lienlac_outbox_pending",
            "Outbox messages waiting to be sent",
            ["school"],
            registry=registry,
        ),
        "sent": Gauge(
            "lienlac_outbox_sent_total",
            "Outbox messages sent",
            ["school"],
            registry=registry,
        ),
        "failed": Gauge(
            "lienlac_outbox_failed_total",
            "Outbox messages that failed for good",
            ["school"],
            registry=registry,
        ),
        "expired": Gauge(
            "lienlac_outbox_expired_total",
            "Outbox messages that expired unsent",
            ["school"],
            registry=registry,
        ),
        "in_doubt": Gauge(
            "lienlac_outbox_in_doubt_total",
            "Outbox messages in flight when their worker died, resent as a possible repeat",
            ["school"],
            registry=registry,
        ),
        "oldest": Gauge(
            "lienlac_outbox_oldest_pending_seconds",
            "Age of the oldest pending outbox message (0 when none)",
            ["school"],
            registry=registry,
        ),
    }
    pending_requests = Gauge(
        "lienlac_absence_pending",
        "Leave requests waiting for a teacher's decision",
        ["school"],
        registry=registry,
    )
    unwritten = Gauge(
        "lienlac_absence_unwritten",
        "Approved leave requests not yet written to the school system (retrying)",
        ["school"],
        registry=registry,
    )
    otp_sent = Gauge(
        "lienlac_otp_sms_24h",
        "One-time codes texted in the last 24 hours",
        ["school"],
        registry=registry,
    )
    otp_limit = Gauge(
        "lienlac_otp_sms_limit_24h",
        "The school's limit of one-time codes in 24 hours",
        ["school"],
        registry=registry,
    )
    otp_alert_gauge = Gauge(
        "lienlac_otp_sms_alert",
        "1 when the school's one-time codes are near or at the daily limit",
        ["school"],
        registry=registry,
    )
    otp_wrong = Gauge(
        "lienlac_otp_wrong_codes_24h",
        "Wrong one-time codes typed in the last 24 hours",
        ["school"],
        registry=registry,
    )
    unknown = Gauge(
        "lienlac_unknown_student_codes_24h",
        "Unknown student codes typed in the last 24 hours",
        ["school"],
        registry=registry,
    )
    for o in otps:
        cap = (otp_caps or {}).get(o.school_id)
        otp_sent.labels(school=o.school_id).set(o.sent)
        otp_wrong.labels(school=o.school_id).set(o.wrong)
        unknown.labels(school=o.school_id).set(o.unknown_codes)
        otp_alert_gauge.labels(school=o.school_id).set(1 if otp_alert(o, cap) else 0)
        if cap is not None:
            otp_limit.labels(school=o.school_id).set(cap.school_sends_per_day)
    for a in absences:
        pending_requests.labels(school=a.school_id).set(a.pending)
        unwritten.labels(school=a.school_id).set(a.unwritten)
    for r in rows:
        gauges["pending"].labels(school=r.school_id).set(r.pending)
        gauges["sent"].labels(school=r.school_id).set(r.sent)
        gauges["failed"].labels(school=r.school_id).set(r.failed)
        gauges["expired"].labels(school=r.school_id).set(r.expired)
        gauges["in_doubt"].labels(school=r.school_id).set(r.in_doubt)
        gauges["oldest"].labels(school=r.school_id).set(r.oldest_pending_seconds)
    return generate_latest(registry)
