"""The leave-request work nobody asked for in a chat: retrying writes to the school system,
reminding a teacher once, and at the school's cut-off escalating to the deputy or expiring.

:meth:`AbsenceJobs.run_once` is safe to run in several workers at once: decisions are
compare-and-set on the request's version, every message has a unique dedupe key, and writes
to the school system are idempotent. Each request is handled in its own transaction, so one
failing request never holds up the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from bot.domain.absence import AbsenceStatus, decision_deadline
from bot.domain.errors import BackendError
from bot.ports import AbsenceRequest, UnitOfWorkFactory
from bot.turn import CoreServices
from handlers import absence

log = logging.getLogger(__name__)

Step = Callable[[absence.Desk, AbsenceRequest], Awaitable[bool]]


class AbsenceJobs:
    def __init__(self, uow_factory: UnitOfWorkFactory, services: CoreServices) -> None:
        self._uow_factory = uow_factory
        self._services = services

    async def run_once(self, now: dt.datetime | None = None) -> int:
        """One pass over every school with open requests. Returns how many requests
        changed (written, reminded, escalated or expired)."""
        now = now or self._services.clock.now()
        async with self._uow_factory() as uow:
            schools = list(await uow.absences.schools_with_work())
        done = 0
        for school_id in schools:
            try:
                done += await self._school(school_id, now)
            except BackendError as err:  # the school system is down: try again next pass
                log.warning("absence jobs for %s: %s", school_id, type(err).__name__)
        return done

    async def _school(self, school_id: str, now: dt.datetime) -> int:
        services = self._services.for_school(school_id)
        policy = services.absence_policy
        today = now.astimezone(services.tz).date()
        async with self._uow_factory() as uow:
            writes = list(await uow.absences.due_writes(school_id, now))
            stale = list(await uow.absences.stale_pending(school_id, now - policy.remind_after))
            started = list(await uow.absences.pending_started_by(school_id, today))
        done = 0
        for request in writes:
            done += await self._each(school_id, now, request, self._write)
        for request in stale:
            done += await self._each(school_id, now, request, self._remind)
        for request in started:
            done += await self._each(school_id, now, request, self._deadline)
        return done

    async def _each(
        self, school_id: str, now: dt.datetime, request: AbsenceRequest, step: Step
    ) -> int:
        async with self._uow_factory() as uow:
            fresh = await uow.absences.get(school_id, request.id)
            if fresh is None or fresh.version != request.version:
                return 0  # decided or changed meanwhile (another worker, a teacher)
            services = self._services.for_school(school_id)
            desk = absence.Desk(uow=uow, services=services, school_id=school_id, now=now)
            changed = await step(desk, fresh)
            await uow.commit()
            return int(changed)

    async def _write(self, desk: absence.Desk, request: AbsenceRequest) -> bool:
        student = await desk.backend.get_student(request.student_id)
        if student is None:
            await desk.uow.absences.record_write(
                request.id, now=desk.now, error="student not found", retry_at=None
            )
            return False
        return await absence.write_to_backend(desk, request, student)

    async def _remind(self, desk: absence.Desk, request: AbsenceRequest) -> bool:
        if request.status != AbsenceStatus.PENDING or request.reminded_at is not None:
            return False
        student = await desk.backend.get_student(request.student_id)
        if student is None:
            return False
        teachers = await absence.homeroom_teachers(desk, request.class_id)
        await absence.notify_deciders(
            desk,
            request,
            student,
            teachers,
            kind="absence.reminder",
            headline_key="absence.teacher_reminder",
        )
        await desk.uow.absences.mark_reminded(request.id, now=desk.now)
        await desk.audit("absence.reminded", request.id)
        return True

    async def _deadline(self, desk: absence.Desk, request: AbsenceRequest) -> bool:
        policy = desk.services.absence_policy
        deadline = decision_deadline(request.start_date, policy, desk.services.tz)
        if request.status != AbsenceStatus.PENDING or desk.now < deadline:
            return False
        student = await desk.backend.get_student(request.student_id)
        if student is None:
            return False
        chief = await absence.deputy(desk)
        if chief is not None and request.escalated_at is None:
            reached = await absence.notify_deciders(
                desk,
                request,
                student,
                [chief],
                kind="absence.escalated",
                headline_key="absence.teacher_escalated",
            )
            if reached:
                await desk.uow.absences.mark_escalated(request.id, now=desk.now)
                await desk.audit("absence.escalated", request.id)
                await absence.notify_parent(desk, request, student, what="escalated")
                return True
        if request.escalated_at is not None and desk.now < request.escalated_at + (
            policy.deputy_window
        ):
            return False
        if not await desk.uow.absences.transition(request, AbsenceStatus.EXPIRED, now=desk.now):
            return False
        await desk.audit("absence.expired", request.id)
        await absence.notify_parent(desk, request, student, what="expired")
        await absence.notify_teachers(desk, request, student, key="absence.teacher_expired")
        return True
