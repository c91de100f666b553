"""Outbox queue statistics per school: for ``python run_bot.py stats`` and ``/metrics``.

No personal data: only school ids and counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from bot.outbox import OutboxStore, SchoolQueueStats

__all__ = [
    "AbsenceStats",
    "SchoolQueueStats",
    "collect_stats",
    "format_absence_stats",
    "format_age",
    "format_stats",
    "outbox_metrics",
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


def format_absence_stats(rows: Sequence[AbsenceStats]) -> str:
    if not rows:
        return "leave requests: none waiting, every approved one is in the school system\n"
    lines = ["school  pending  approved-not-written  oldest  last error"]
    for r in rows:
        age = format_age(r.oldest_unwritten_seconds) if r.unwritten else "-"
        lines.append(
            f"{r.school_id}  {r.pending}  {r.unwritten}  {age}  {r.last_write_error or '-'}"
        )
    return "\n".join(lines) + "\n"


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


def format_stats(rows: Sequence[SchoolQueueStats]) -> str:
    """A small fixed-width table, one line per school, and a total line when several."""
    header = ("school", "pending", "sent", "failed", "expired", "oldest pending")
    lines: list[tuple[str, ...]] = [header]
    for r in rows:
        age = format_age(r.oldest_pending_seconds) if r.pending else "-"
        lines.append((r.school_id, str(r.pending), str(r.sent), str(r.failed), str(r.expired), age))
    if not rows:
        lines.append(("(no messages)", "0", "0", "0", "0", "-"))
    elif len(rows) > 1:
        oldest = max((r.oldest_pending_seconds for r in rows if r.pending), default=0.0)
        pending = sum(r.pending for r in rows)
        lines.append(
            (
                "total",
                str(pending),
                str(sum(r.sent for r in rows)),
                str(sum(r.failed for r in rows)),
                str(sum(r.expired for r in rows)),
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
    rows: Sequence[SchoolQueueStats], absences: Sequence[AbsenceStats] = ()
) -> bytes:
    """The rows in the Prometheus text format, from a fresh registry (safe to call per
    scrape, in any process)."""
    registry = CollectorRegistry(auto_describe=True)
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
    for a in absences:
        pending_requests.labels(school=a.school_id).set(a.pending)
        unwritten.labels(school=a.school_id).set(a.unwritten)
    for r in rows:
        gauges["pending"].labels(school=r.school_id).set(r.pending)
        gauges["sent"].labels(school=r.school_id).set(r.sent)
        gauges["failed"].labels(school=r.school_id).set(r.failed)
        gauges["expired"].labels(school=r.school_id).set(r.expired)
        gauges["oldest"].labels(school=r.school_id).set(r.oldest_pending_seconds)
    return generate_latest(registry)
