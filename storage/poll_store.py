"""SQL implementations of ``bot.ports.PollRepo`` and ``bot.ports.PostRepo`` (issue 17):
class polls with one ballot per pupil, and teachers' remarks and homework. Part of the unit
of work (``uow.polls``, ``uow.posts``).

The one reminder per poll is guarded by ``poll.reminded_at``: :meth:`SqlPollRepo.mark_reminded`
sets it only where it is still empty, so two workers (or a restart) remind once; the final
results for the author likewise by ``poll.closed_told_at``. Closing early, extending,
cancelling and editing are each one guarded ``UPDATE`` (:meth:`SqlPollRepo.close`, …): of a
double press, a replayed update or two workers, only the first changes the row and the caller
sends its messages only then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.polls import Ballot, Poll, PollSpec
from bot.domain.posts import PostKind, TeacherPost
from storage.tables import PollBallot, PollRow, TeacherPostRow


def _poll(row: PollRow) -> Poll:
    return Poll(
        id=row.id,
        school_id=row.school_id,
        class_id=row.class_id,
        class_name=row.class_name,
        author_id=row.author_id,
        question=row.question,
        options=tuple(str(o) for o in row.options),
        multiple=row.multiple,
        anonymous=row.anonymous,
        deadline_at=row.deadline_at,
        remind_at=row.remind_at,
        reminded_at=row.reminded_at,
        created_at=row.created_at,
        closed_at=row.closed_at,
        cancelled_at=row.cancelled_at,
    )


def _ballot(row: PollBallot) -> Ballot:
    return Ballot(
        id=row.id,
        poll_id=row.poll_id,
        school_id=row.school_id,
        student_id=row.student_id,
        student_name=row.student_name,
        class_name=row.class_name,
        choices=tuple(int(c) for c in row.choices),
        answered_at=row.answered_at,
    )


class SqlPollRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def create(
        self,
        *,
        school_id: str,
        class_id: str,
        class_name: str,
        author_id: str,
        spec: PollSpec,
        remind_at: dt.datetime,
        pupils: Sequence[tuple[str, str, str]],
        now: dt.datetime,
    ) -> Poll:
        row = PollRow(
            school_id=school_id,
            class_id=class_id,
            class_name=class_name,
            author_id=author_id,
            question=spec.question,
            options=list(spec.options),
            multiple=spec.multiple,
            anonymous=spec.anonymous,
            deadline_at=spec.deadline_at,
            remind_at=remind_at,
            reminded_at=None,
            closed_told_at=None,
            created_at=now,
            closed_at=None,
            cancelled_at=None,
        )
        self._s.add(row)
        await self._s.flush()
        seen: set[str] = set()
        for student_id, name, pupil_class in pupils:
            if student_id in seen:
                continue
            seen.add(student_id)
            self._s.add(
                PollBallot(
                    poll_id=row.id,
                    school_id=school_id,
                    student_id=student_id,
                    student_name=name,
                    class_name=pupil_class,
                    choices=[],
                    answered_at=None,
                    answered_by=None,
                )
            )
        await self._s.flush()
        return _poll(row)

    async def get(self, school_id: str, poll_id: int) -> Poll | None:
        row = await self._s.get(PollRow, poll_id)
        return _poll(row) if row is not None and row.school_id == school_id else None

    async def ballot(self, school_id: str, ballot_id: int) -> Ballot | None:
        row = await self._s.get(PollBallot, ballot_id)
        return _ballot(row) if row is not None and row.school_id == school_id else None

    async def ballots(self, school_id: str, poll_id: int) -> Sequence[Ballot]:
        rows = await self._s.scalars(
            select(PollBallot)
            .where(PollBallot.school_id == school_id, PollBallot.poll_id == poll_id)
            .order_by(PollBallot.id)
        )
        return [_ballot(r) for r in rows]

    async def answer(
        self, ballot_id: int, choices: Sequence[int], *, by: str, now: dt.datetime
    ) -> None:
        await self._s.execute(
            update(PollBallot)
            .where(PollBallot.id == ballot_id)
            .values(
                choices=sorted(set(choices)),
                answered_at=now if choices else None,
                answered_by=by[:100] if choices else None,
            )
        )

    async def recent(
        self, school_id: str, *, author_id: str | None, class_ids: Sequence[str] | None, limit: int
    ) -> Sequence[Poll]:
        query = select(PollRow).where(PollRow.school_id == school_id)
        if author_id is not None or class_ids is not None:
            wanted = []
            if author_id is not None:
                wanted.append(PollRow.author_id == author_id)
            if class_ids:
                wanted.append(PollRow.class_id.in_(list(class_ids)))
            query = query.where(or_(*wanted))
        rows = await self._s.scalars(query.order_by(PollRow.id.desc()).limit(limit))
        return [_poll(r) for r in rows]

    async def open_ballots(
        self, school_id: str, student_ids: Sequence[str], now: dt.datetime
    ) -> Sequence[tuple[Poll, Ballot]]:
        if not student_ids:
            return []
        rows = await self._s.execute(
            select(PollRow, PollBallot)
            .join(PollBallot, PollBallot.poll_id == PollRow.id)
            .where(
                PollRow.school_id == school_id,
                PollBallot.school_id == school_id,
                PollBallot.student_id.in_(list(student_ids)),
                PollRow.deadline_at > now,
                PollRow.closed_at.is_(None),
                PollRow.cancelled_at.is_(None),
            )
            .order_by(PollRow.deadline_at, PollBallot.id)
        )
        return [(_poll(p), _ballot(b)) for p, b in rows]

    async def due_reminders(self, now: dt.datetime) -> Sequence[Poll]:
        rows = await self._s.scalars(
            select(PollRow)
            .where(
                PollRow.reminded_at.is_(None),
                PollRow.remind_at <= now,
                PollRow.deadline_at > now,
                PollRow.closed_at.is_(None),
                PollRow.cancelled_at.is_(None),
            )
            .order_by(PollRow.id)
        )
        return [_poll(r) for r in rows]

    async def due_closings(self, now: dt.datetime, *, since: dt.datetime) -> Sequence[Poll]:
        rows = await self._s.scalars(
            select(PollRow)
            .where(
                PollRow.closed_told_at.is_(None),
                PollRow.cancelled_at.is_(None),
                or_(
                    and_(PollRow.deadline_at <= now, PollRow.deadline_at > since),
                    and_(PollRow.closed_at <= now, PollRow.closed_at > since),
                ),
            )
            .order_by(PollRow.id)
        )
        return [_poll(r) for r in rows]

    async def mark_closed_told(self, poll_id: int, *, now: dt.datetime) -> bool:
        result = await self._s.execute(
            update(PollRow)
            .where(PollRow.id == poll_id, PollRow.closed_told_at.is_(None))
            .values(closed_told_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def mark_reminded(self, poll_id: int, *, now: dt.datetime) -> bool:
        result = await self._s.execute(
            update(PollRow)
            .where(PollRow.id == poll_id, PollRow.reminded_at.is_(None))
            .values(reminded_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    def _still_open(self, poll_id: int, now: dt.datetime) -> ColumnElement[bool]:
        return and_(
            PollRow.id == poll_id,
            PollRow.closed_at.is_(None),
            PollRow.cancelled_at.is_(None),
            PollRow.deadline_at > now,
        )

    async def close(self, poll_id: int, *, now: dt.datetime) -> bool:
        result = await self._s.execute(
            update(PollRow).where(self._still_open(poll_id, now)).values(closed_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def extend(
        self,
        poll_id: int,
        *,
        deadline_at: dt.datetime,
        remind_at: dt.datetime | None,
        was: dt.datetime,
        now: dt.datetime,
    ) -> bool:
        values: dict[str, object] = {"deadline_at": deadline_at}
        if remind_at is not None:
            values.update(remind_at=remind_at, reminded_at=None)
        result = await self._s.execute(
            update(PollRow)
            .where(self._still_open(poll_id, now), PollRow.deadline_at == was)
            .values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    async def cancel(self, poll_id: int, *, now: dt.datetime) -> bool:
        result = await self._s.execute(
            update(PollRow)
            .where(PollRow.id == poll_id, PollRow.cancelled_at.is_(None))
            .values(cancelled_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def edit(
        self, poll_id: int, *, question: str, options: Sequence[str], now: dt.datetime
    ) -> bool:
        answered = exists().where(
            PollBallot.poll_id == poll_id, PollBallot.answered_at.is_not(None)
        )
        result = await self._s.execute(
            update(PollRow)
            .where(self._still_open(poll_id, now), ~answered)
            .values(question=question, options=list(options))
        )
        return bool(getattr(result, "rowcount", 0))


class SqlPostRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(
        self,
        *,
        school_id: str,
        kind: PostKind,
        class_id: str,
        student_id: str | None,
        author_id: str,
        text: str,
        now: dt.datetime,
    ) -> int:
        row = TeacherPostRow(
            school_id=school_id,
            kind=kind.value,
            class_id=class_id,
            student_id=student_id,
            author_id=author_id,
            text=text,
            created_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        return row.id

    async def since(
        self,
        school_id: str,
        *,
        kind: PostKind,
        class_ids: Sequence[str],
        student_ids: Sequence[str] | None,
        since: dt.datetime,
    ) -> Sequence[TeacherPost]:
        if not class_ids:
            return []
        query = select(TeacherPostRow).where(
            TeacherPostRow.school_id == school_id,
            TeacherPostRow.kind == kind.value,
            TeacherPostRow.class_id.in_(list(class_ids)),
            TeacherPostRow.created_at >= since,
        )
        if student_ids is not None:
            query = query.where(TeacherPostRow.student_id.in_(list(student_ids)))
        rows = await self._s.scalars(query.order_by(TeacherPostRow.created_at, TeacherPostRow.id))
        return [
            TeacherPost(
                id=r.id,
                school_id=r.school_id,
                kind=PostKind(r.kind),
                class_id=r.class_id,
                student_id=r.student_id,
                author_id=r.author_id,
                text=r.text,
                created_at=r.created_at,
            )
            for r in rows
        ]
