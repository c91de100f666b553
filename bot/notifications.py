"""From school data to messages for parents: change detection, digests, notices, alerts.

Nothing here sends. Everything ends as rows: notification items (one per parent and change,
unique), and outbox messages (a digest, an urgent alert) written in the same transaction as
the rows that record them. The relay (``bot.outbox``) delivers; the scheduler
(``bot.scheduler``) calls :meth:`Notifier.run_once` on a timer.

Exactly once, step by step
    * a change becomes an item once per parent: ``notification_item`` is unique per
      (school, channel, user, change key), and the change key names one version of a record;
    * a digest is made once per parent and period: ``digest_run`` is unique per key
      ``digest:{school}:{period}:{channel}:{user}``, inserted in the transaction that queues
      the outbox row (same dedupe key) and marks the items it took;
    * an item is taken once: marking sets ``digest_key`` only where it is still empty.

Works with ports only (``UnitOfWorkFactory``, ``BackendRegistry``), no SQL here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

from bot.domain.calendar import DEFAULT_TIMEZONE
from bot.domain.digest import (
    ChildSection,
    Content,
    Digest,
    DigestPrefs,
    DuePeriod,
    Item,
    Translate,
    compose_alert,
    compose_digest,
    due_period,
    shows_tomorrow,
)
from bot.domain.errors import BackendError
from bot.domain.models import Guardian, Session, Student
from bot.domain.sms import OFFICE_SMS, compose_sms_digest, fit_segments
from bot.i18n import Catalog, normalise_locale
from bot.messages import ConversationKey
from bot.ports import (
    BackendRegistry,
    Capability,
    Change,
    DigestStart,
    FamilyRoster,
    Link,
    LinkRole,
    OutgoingMessage,
    Prefetching,
    SchoolBackend,
    StoredItem,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)

DIGEST_TTL = dt.timedelta(hours=20)  # a digest not delivered by then is stale: expire it
ALERT_TTL = dt.timedelta(days=2)
DIGEST_BATCH = 500  # parents per transaction in a digest tick
SMS_CHANNEL = "sms"  # guardians marked "SMS only": recipient chat/user = the guardian's id
_SMS_LINKED = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # no chat, no consent row: the import


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestPolicy:
    grace: dt.timedelta = dt.timedelta(hours=2)  # catch up missed digests up to this late
    overlap: dt.timedelta = dt.timedelta(minutes=5)  # re-read changes this far back (late commits)
    default_timezone: str = DEFAULT_TIMEZONE
    # the SMS digest of guardians marked "SMS only" (issue 16); 0 = none
    sms_max_segments: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    items: int = 0  # notification items created
    alerts: int = 0  # urgent alerts queued
    digests: int = 0  # digests queued


def digest_key(school_id: str, period: str, channel: str, user_id: str) -> str:
    return f"digest:{school_id}:{period}:{channel}:{user_id}"


async def _locale(uow: UnitOfWork, link: Link, prefs: DigestPrefs) -> str:
    """The chat's language (``/ngonngu`` or the settings), else the one saved with the
    preferences, else Vietnamese."""
    state = await uow.conversations.load(link.key)
    return normalise_locale(state.locale or prefs.locale)


async def _queue_alert(
    uow: UnitOfWork,
    catalog: Catalog,
    *,
    link: Link,
    prefs: DigestPrefs,
    child: str,
    item: Item,
    item_id: int,
    now: dt.datetime,
    urgent: bool = True,
    not_before: dt.datetime | None = None,
) -> None:
    """Queue one item at once (or for ``not_before``), as its own message. ``urgent`` passes
    quiet hours; a new score (``urgent=False``) waits for them to end. The item is marked with
    the alert's key, so it is not told again in the digest; the key (one per item) makes a
    second queueing a no-op."""
    locale = await _locale(uow, link, prefs)
    key = f"alert:{link.key.school_id}:{item_id}"
    text = compose_alert(lambda k, **v: catalog.t(locale, k, **v), locale, child=child, item=item)
    await uow.outbox.enqueue(
        OutgoingMessage(
            recipient=link.key,
            kind="alert",
            text=text,
            dedupe_key=key,
            urgent=urgent,
            not_before=not_before,
            expires_at=(not_before or now) + ALERT_TTL,
            locale=locale,
        ),
        now=now,
    )
    await uow.notifications.mark_items([item_id], digest_key=key)


def sms_key(school_id: str, guardian_id: str) -> ConversationKey:
    """The outbox recipient of an SMS-only guardian: no phone in it (the sender looks the
    phone up in the school data when it sends)."""
    return ConversationKey(
        school_id=school_id, channel=SMS_CHANNEL, chat_id=guardian_id, user_id=guardian_id
    )


def sms_notice_key(school_id: str, guardian_id: str, student_id: str) -> ConversationKey:
    """The outbox recipient of a notice texted from the office's web page (issue 18) to a
    guardian its chats did not reach: any guardian with a phone on file, not only those marked
    SMS only. No phone in it: the sender finds it among ``student_id``'s guardians when it
    sends (``bot.channels.sms``)."""
    return ConversationKey(
        school_id=school_id,
        channel=SMS_CHANNEL,
        chat_id=guardian_id,
        user_id=f"{OFFICE_SMS}{student_id}",
    )


def notice_sms_dedupe(school_id: str, notice_id: int, guardian_id: str) -> str:
    """One SMS of a notice per guardian, however often the button is pressed."""
    return f"notice-sms:{school_id}:{notice_id}:{guardian_id}"


async def queue_notice_sms(
    uow: UnitOfWork,
    catalog: Catalog,
    *,
    school_id: str,
    notice_id: int,
    text: str,
    urgent: bool,
    guardians: Sequence[tuple[Guardian, str]],
    max_segments: int,
    now: dt.datetime,
) -> int:
    """Queue the notice as a short ASCII SMS (``bot.domain.sms``) to each (guardian, pupil)
    with a phone on file, once per guardian per notice, in ``uow``'s transaction, on the
    outbox's ``sms`` channel the SMS digest uses. How many were newly queued."""

    def t(key: str, **values: object) -> str:
        return catalog.t("vi", key, **values)  # an SMS goes out folded to ASCII anyway

    body = fit_segments(
        [t("admin.sms_notice_title"), *text.split("\n")],
        max_segments=max_segments,
        more=lambda n: t("sms_digest.more", n=n),
    )
    queued = 0
    seen: set[str] = set()
    for guardian, student_id in guardians:
        if not guardian.phone or guardian.id in seen:
            continue
        seen.add(guardian.id)
        queued += await uow.outbox.enqueue(
            OutgoingMessage(
                recipient=sms_notice_key(school_id, guardian.id, student_id),
                kind="notice.sms",
                text=body,
                dedupe_key=notice_sms_dedupe(school_id, notice_id, guardian.id),
                urgent=urgent,
                expires_at=now + ALERT_TTL,
                locale="vi",
            ),
            now=now,
        )
    return queued


async def sms_links(backend: SchoolBackend, school_id: str) -> list[Link]:
    """The guardians marked "SMS only" as links to each of their pupils (issue 16), so the
    digest treats them like parents in a chat; none when the backend cannot list them."""
    if not isinstance(backend, FamilyRoster):
        return []
    links = []
    for guardian, student_ids in await backend.sms_only_guardians():
        for student_id in student_ids:
            links.append(
                Link(
                    id=0,
                    key=sms_key(school_id, guardian.id),
                    role=LinkRole.GUARDIAN,
                    subject_id=student_id,
                    person_id=guardian.id,
                    consent_version="import",
                    consent_at=_SMS_LINKED,
                    verified_at=_SMS_LINKED,
                )
            )
    return links


def _not_in_a_chat(by_sms: Sequence[Link], chats: Sequence[Link]) -> list[Link]:
    """The SMS links of guardians who have not linked a chat for that pupil: a guardian marked
    SMS only who verified in a chat after all gets the chat's digest, not a paid SMS too."""
    linked = {(c.key.school_id, c.person_id, c.subject_id) for c in chats}
    return [s for s in by_sms if (s.key.school_id, s.person_id, s.subject_id) not in linked]


queue_item_alert = _queue_alert  # for the other publishers (bot.teacher_posts)


@dataclass(frozen=True, slots=True, kw_only=True)
class PostedNotice:
    notice_id: int  # the first notice row; its items carry the change key ``notice:{id}``
    reached: int  # parents


async def publish_notice(
    uow: UnitOfWork,
    backend: SchoolBackend,
    catalog: Catalog,
    *,
    school_id: str,
    class_ids: Sequence[str] | None,
    author: str,
    text: str,
    urgent: bool,
    now: dt.datetime,
) -> int:
    """:func:`post_notice`; how many parents it reaches."""
    posted = await post_notice(
        uow,
        backend,
        catalog,
        school_id=school_id,
        class_ids=class_ids,
        author=author,
        text=text,
        urgent=urgent,
        now=now,
    )
    return posted.reached


async def post_notice(
    uow: UnitOfWork,
    backend: SchoolBackend,
    catalog: Catalog,
    *,
    school_id: str,
    class_ids: Sequence[str] | None,
    author: str,
    text: str,
    urgent: bool,
    now: dt.datetime,
    send_at: dt.datetime | None = None,
) -> PostedNotice:
    """Record a notice and make one item per parent of a student in ``class_ids`` (``None``:
    the whole school), in ``uow``'s transaction. Urgent notices go out at once to parents who
    keep instant alerts on (the outbox row is urgent: it passes quiet hours); the others read
    it in their next digest. The chat (dialogs/notice.py), the command line and the office's
    web page (bot/admin) all post through here. The caller checks who may send to which
    class.

    ``send_at`` schedules it: every parent gets it as its own message at that time (after
    quiet hours unless ``urgent``), whatever their digest settings."""
    links = await uow.notifications.guardian_links([school_id])
    prefs = await uow.notifications.all_prefs([school_id])
    wanted = set(class_ids) if class_ids is not None else None
    notice_ids: list[int] = []
    for class_id in sorted(wanted) if wanted is not None else [None]:
        notice_ids.append(
            await uow.notifications.add_notice(
                school_id=school_id,
                class_id=class_id,
                author=author,
                text=text,
                urgent=urgent,
                now=now,
            )
        )
    students: dict[str, Student | None] = {}
    reached = 0
    seen: set[tuple[str, str]] = set()
    for link in links:
        if link.subject_id not in students:
            students[link.subject_id] = await backend.get_student(link.subject_id)
        student = students[link.subject_id]
        if student is None or (wanted is not None and student.class_id not in wanted):
            continue
        who = (link.key.channel, link.key.user_id)
        if who in seen:  # two children in the class: one notice
            continue
        seen.add(who)
        item = Item(kind=Content.NOTICES.value, payload={"text": text}, occurred_at=now)
        item_id = await uow.notifications.add_item(
            recipient=link.key,
            student_id=student.id,
            kind=item.kind,
            change_key=f"notice:{notice_ids[0]}",
            payload=item.payload,
            urgent=urgent,
            occurred_at=now,
            now=now,
        )
        if item_id is None:
            continue
        reached += 1
        pref = prefs.get((link.key.school_id, link.key.channel, link.key.user_id), DigestPrefs())
        if send_at is not None or (urgent and pref.instant):
            await _queue_alert(
                uow,
                catalog,
                link=link,
                prefs=pref,
                child=student.full_name,
                item=item,
                item_id=item_id,
                now=now,
                urgent=urgent,
                not_before=send_at,
            )
    return PostedNotice(notice_id=notice_ids[0], reached=reached)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Candidate:
    key: str
    home: str  # the school whose preferences and time zone count
    links: tuple[Link, ...]
    prefs: DigestPrefs
    period: DuePeriod


class Notifier:
    """Change detection and digests for the schools one bot serves."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        backends: BackendRegistry,
        catalog: Catalog,
        schools: Sequence[str],
        policy: DigestPolicy | None = None,
    ) -> None:
        self._uow = uow_factory
        self._backends = backends
        self._catalog = catalog
        self._schools = tuple(schools)
        self._policy = policy or DigestPolicy()

    async def run_once(self, now: dt.datetime) -> RunResult:
        """One tick: detect changes at every school, then make the digests due at ``now``."""
        items = alerts = 0
        for school in self._schools:
            try:
                made, queued = await self.detect_changes(school, now)
            except BackendError as err:  # the school system is down: try again next tick
                log.warning("change detection failed for %s: %s", school, type(err).__name__)
                continue
            items += made
            alerts += queued
        digests = await self.make_digests(now)
        return RunResult(items=items, alerts=alerts, digests=digests)

    # -- changes -------------------------------------------------------------------------

    async def detect_changes(self, school_id: str, now: dt.datetime) -> tuple[int, int]:
        """Turn the school's changes since the watermark into items; returns (items, alerts)."""
        backend = self._backends.for_school(school_id)
        if Capability.CHANGES not in backend.capabilities:
            return 0, 0  # the school system cannot say what changed: digests carry notices only
        async with self._uow() as uow:
            watermark = await uow.notifications.watermark(school_id)
            early = await uow.notifications.all_prefs([school_id])
        since = None if watermark is None else watermark - self._policy.overlap
        batch = await backend.changes_since(since, now=now)
        names = await self._names(backend, batch.changes, early)  # outside the transaction
        by_sms = await self._sms_links(school_id) if batch.changes else []
        created = alerts = 0
        async with self._uow() as uow:
            if batch.changes:
                links: dict[str, list[Link]] = defaultdict(list)
                chats = await uow.notifications.guardian_links([school_id])
                for link in [*chats, *_not_in_a_chat(by_sms, chats)]:
                    links[link.subject_id].append(link)
                prefs = await uow.notifications.all_prefs([school_id])
                for change in batch.changes:
                    for link in links.get(change.student_id, []):
                        item_id = await uow.notifications.add_item(
                            recipient=link.key,
                            student_id=change.student_id,
                            kind=change.kind,
                            change_key=change.key,
                            payload=change.payload,
                            urgent=change.urgent,
                            occurred_at=change.occurred_at,
                            now=now,
                        )
                        if item_id is None:
                            continue  # seen before (overlap, or another worker)
                        created += 1
                        key = (link.key.school_id, link.key.channel, link.key.user_id)
                        pref = prefs.get(key, DigestPrefs())
                        urgent = change.urgent and pref.instant
                        # "báo ngay khi có điểm mới": at once, but never in quiet hours
                        score = change.kind == Content.SCORES and pref.score_alerts
                        # an SMS-only guardian hears everything in the digest (one bill a day)
                        by_chat = link.key.channel != SMS_CHANNEL
                        if by_chat and (urgent or score):
                            await _queue_alert(
                                uow,
                                self._catalog,
                                link=link,
                                prefs=pref,
                                child=names.get(change.student_id, ""),
                                item=Item(
                                    kind=change.kind,
                                    payload=change.payload,
                                    occurred_at=change.occurred_at,
                                ),
                                item_id=item_id,
                                now=now,
                                urgent=urgent,
                            )
                            alerts += 1
            await uow.notifications.set_watermark(school_id, batch.watermark, now=now)
            await uow.commit()
        return created, alerts

    @staticmethod
    async def _names(
        backend: SchoolBackend,
        changes: Sequence[Change],
        prefs: dict[tuple[str, str, str], DigestPrefs],
    ) -> dict[str, str]:
        """The pupils' names an alert may need: those of urgent changes, and of new scores
        when some parent asked to hear of them at once."""
        scores = any(p.score_alerts for p in prefs.values())
        wanted = {
            c.student_id for c in changes if c.urgent or (scores and c.kind == Content.SCORES)
        }
        names: dict[str, str] = {}
        for student_id in wanted:
            student = await backend.get_student(student_id)
            names[student_id] = student.full_name if student else ""
        return names

    async def _sms_links(self, school_id: str) -> list[Link]:
        if self._policy.sms_max_segments < 1:
            return []
        try:
            return await sms_links(self._backends.for_school(school_id), school_id)
        except BackendError as err:  # their digest waits for the next tick
            log.warning("SMS-only guardians not read for %s: %s", school_id, type(err).__name__)
            return []

    # -- digests -------------------------------------------------------------------------

    async def _timezones(self) -> dict[str, str]:
        zones = {}
        for school in self._schools:
            try:
                info = await self._backends.for_school(school).school_info()
                zones[school] = info.timezone or self._policy.default_timezone
            except BackendError:
                zones[school] = self._policy.default_timezone
        return zones

    async def due_digests(self, now: dt.datetime) -> list[_Candidate]:
        """Parents whose digest period is due at ``now`` and not yet made."""
        zones = await self._timezones()
        async with self._uow() as uow:
            prefs = await uow.notifications.all_prefs(self._schools)
            # Most ticks fall in no one's window: then the (large) link table is not read.
            grace = self._policy.grace
            defaults = [(school, DigestPrefs()) for school in self._schools]
            stored = [(key[0], pref) for key, pref in prefs.items()]
            if not any(due_period(p, now, zones[s], grace=grace) for s, p in defaults + stored):
                return []
            links = list(await uow.notifications.guardian_links(self._schools))
            by_sms = [link for school in self._schools for link in await self._sms_links(school)]
            links.extend(_not_in_a_chat(by_sms, links))
            # One parent = one chat user of this bot, whatever school each child is at.
            groups: dict[tuple[str, str], list[Link]] = defaultdict(list)
            for link in links:
                groups[(link.key.channel, link.key.user_id)].append(link)
            candidates = []
            default = DigestPrefs()
            periods: dict[tuple[DigestPrefs, str], DuePeriod | None] = {}  # most share both
            for (channel, user_id), mine in groups.items():
                mine.sort(key=lambda lk: (lk.key.school_id, lk.id))
                home = mine[0].key.school_id
                pref = prefs.get((home, channel, user_id), default)
                zone = zones[home]
                if (pref, zone) not in periods:
                    periods[(pref, zone)] = due_period(pref, now, zone, grace=self._policy.grace)
                period = periods[(pref, zone)]
                if period is None:
                    continue
                candidates.append(
                    _Candidate(
                        key=digest_key(home, period.key, channel, user_id),
                        home=home,
                        links=tuple(mine),
                        prefs=pref,
                        period=period,
                    )
                )
            made = await uow.notifications.digests_made([c.key for c in candidates])
        return [c for c in candidates if c.key not in made]

    async def make_digests(self, now: dt.datetime) -> int:
        """Make the digests due at ``now``, :data:`DIGEST_BATCH` parents at a time: a few
        queries and one transaction per batch, not per parent (issue 15)."""
        queued = 0
        candidates = await self.due_digests(now)
        for start in range(0, len(candidates), DIGEST_BATCH):
            queued += await self._make_batch(candidates[start : start + DIGEST_BATCH], now)
        return queued

    async def _prefetch(self, batch: Sequence[_Candidate]) -> None:
        """Read the batch's pupils (and their timetables) at once where the backend can."""
        pupils: dict[str, set[str]] = defaultdict(set)
        for candidate in batch:
            for link in candidate.links:
                pupils[link.key.school_id].add(link.subject_id)
        timetables = any(
            Content.TIMETABLE in c.prefs.content and shows_tomorrow(c.period.local_date)
            for c in batch
        )
        for school_id, ids in pupils.items():
            backend = self._backends.for_school(school_id)
            if not isinstance(backend, Prefetching):
                continue
            try:
                await backend.prefetch(ids, timetables=timetables)
            except BackendError:  # each pupil is asked for again, and its digest postponed
                continue

    async def _make_batch(self, batch: Sequence[_Candidate], now: dt.datetime) -> int:
        async with self._uow() as uow:
            pending = await uow.notifications.pending_items_of(
                [(c.links[0].key.channel, c.links[0].key.user_id) for c in batch],
                school_ids=self._schools,
            )
            chosen = await uow.conversations.locales([c.links[0].key for c in batch])
        await self._prefetch(batch)
        made: list[tuple[_Candidate, Sequence[StoredItem], str, Digest | None]] = []
        for candidate in batch:
            first = candidate.links[0]
            items = pending.get((first.key.channel, first.key.user_id), [])
            # the chat's language (``/ngonngu`` or the settings), else the one saved with the
            # preferences, else Vietnamese
            locale = normalise_locale(chosen.get(first.key) or candidate.prefs.locale)
            try:
                sections = await self._sections(candidate, items)
            except BackendError as err:
                log.warning("digest %s postponed: %s", candidate.key, type(err).__name__)
                continue
            t = partial(self._catalog.t, locale)
            if first.key.channel == SMS_CHANNEL:
                digest = self._sms_digest(t, locale, candidate, sections)
            else:
                digest = compose_digest(
                    t,
                    locale,
                    frequency=candidate.prefs.frequency,
                    local_date=candidate.period.local_date,
                    children=sections,
                    content=candidate.prefs.content,
                )
            made.append((candidate, items, locale, digest))
        if not made:
            return 0
        async with self._uow() as uow:
            # a digest another tick or worker made first is left to it
            claimed = await uow.notifications.start_digests(
                [
                    DigestStart(
                        key=c.key,
                        school_id=c.home,
                        period=c.period.key,
                        item_count=digest.item_count if digest else 0,
                        queued=digest is not None,
                    )
                    for c, _, _, digest in made
                ],
                now=now,
            )
            ours = [entry for entry in made if entry[0].key[:200] in claimed]
            messages = [
                OutgoingMessage(
                    recipient=c.links[0].key,
                    kind="digest",
                    text=digest.text,
                    dedupe_key=c.key,
                    expires_at=c.period.slot + DIGEST_TTL,
                    locale=locale,
                )
                for c, _, locale, digest in ours
                if digest is not None
            ]
            await uow.outbox.enqueue_many(messages, now=now)
            # Items the parent chose not to hear about are consumed too, or they would pile up.
            await uow.notifications.mark_digest_items(
                {c.key: [p.id for p in items] for c, items, _, _ in ours}
            )
            await uow.commit()
        return len(messages)

    def _sms_digest(
        self, t: Translate, locale: str, candidate: _Candidate, sections: list[ChildSection]
    ) -> Digest | None:
        """The short ASCII digest of an SMS-only guardian (``bot.domain.sms``)."""
        order = {c.value: n for n, c in enumerate(Content)}  # scores first, as in a digest
        chosen = [
            replace(
                c,
                items=tuple(
                    sorted(
                        (i for i in c.items if i.kind in candidate.prefs.content),
                        key=lambda i: (order.get(i.kind, 9), i.occurred_at),
                    )
                ),
            )
            for c in sections
        ]
        text = compose_sms_digest(
            t,
            locale,
            local_date=candidate.period.local_date,
            children=chosen,
            max_segments=self._policy.sms_max_segments,
        )
        if text is None:
            return None
        count = sum(len(c.items) for c in chosen)
        return Digest(text=text, item_count=count, children=tuple(c.name for c in chosen))

    async def _sections(
        self, candidate: _Candidate, pending: Sequence[StoredItem]
    ) -> list[ChildSection]:
        by_child: dict[tuple[str, str], list[Item]] = defaultdict(list)
        for stored in pending:
            by_child[(stored.school_id, stored.student_id)].append(stored.item)
        want_tomorrow = Content.TIMETABLE in candidate.prefs.content and shows_tomorrow(
            candidate.period.local_date
        )
        tomorrow = (candidate.period.local_date + dt.timedelta(days=1)).weekday()
        sections = []
        seen: set[tuple[str, str]] = set()
        school_names: dict[str, str] = {}
        for link in candidate.links:
            child = (link.key.school_id, link.subject_id)
            if child in seen:
                continue
            seen.add(child)
            backend = self._backends.for_school(link.key.school_id)
            student = await backend.get_student(link.subject_id)
            if student is None:
                continue
            if link.key.school_id not in school_names:
                school_names[link.key.school_id] = (await backend.school_info()).name
            lessons: list[str] | None = None
            if want_tomorrow:
                slots = [
                    s for s in await backend.timetable(student.class_id) if s.weekday == tomorrow
                ]
                slots.sort(key=lambda s: (s.session is not Session.MORNING, s.period))
                lessons = [s.subject_name for s in slots]
            sections.append(
                ChildSection(
                    name=student.full_name,
                    class_name=student.class_name,
                    school_name=school_names[link.key.school_id],
                    items=tuple(by_child.get(child, ())),
                    tomorrow=lessons,
                )
            )
        return sections
