"""The ``oneroster`` backend: OneRoster 1.2 rostering and gradebook over REST.

Spec: 1EdTech OneRoster 1.2 (https://www.imsglobal.org/spec/oneroster/v1p2). Auth is OAuth 2.0
client credentials; collections are read with ``limit``/``offset`` paging, following the
``Link: <…>; rel="next"`` header when the server sends one and ``X-Total-Count`` otherwise.

How OneRoster maps to LienLac (the choices, also in the README):

* **Classes** are the ``homeroom`` classes (``classType = homeroom``): title "6A", grade from
  ``grades[0]``. The homeroom teacher (GVCN) is the ``primary`` teacher enrolment there.
* **Subject classes** (``classType = scheduled``) share their homeroom class's ``classCode``
  and carry the subject in ``subjectCodes[0]``/``subjects[0]``. A teacher enrolled in one
  teaches that subject to that homeroom group.
* **Students** are users with role ``student``; the student code is ``identifier``; the name is
  ``familyName middleName givenName`` (Vietnamese order); the birth date comes from
  ``demographics``.
* **Guardians** are the student's ``agents`` whose role is ``parent``, ``guardian`` or
  ``relative``, with ``phone`` (or ``sms``); the relation ("Mẹ", "Bố") is read from
  ``metadata.relation`` when present.
* **Scores**: each line item of a subject class belongs to a grading period (``terms`` maps
  HK1/HK2 to academic session ids) and a **category** that says what it is: ĐĐGtx (``tx``),
  giữa kỳ (``gk``), cuối kỳ (``ck``) or a comment-only Đạt/Chưa đạt assessment (``nx``). The
  kind comes from ``categories`` in the config (category id or title -> kind) or else from
  the category title ("TX"/"Thường xuyên", "GK"/"Giữa kỳ", "CK"/"Cuối kỳ", "NX"/"Nhận xét").
  The number of ``tx`` (or ``nx``) line items is the number of assessments the subject needs;
  a result's ``score`` is the mark, its ``textScore`` "Đ"/"CĐ" a comment result.
* **Changes** (for the digests): results whose ``dateLastModified`` is after the watermark,
  read with ``filter=dateLastModified>'…'``; each becomes a new-score item. Only scores:
  OneRoster has no attendance or fees.
* Timetable, fees and attendance are not in OneRoster: those capabilities are absent.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from bot.backends.base import BackendDeps, BackendManifest, load_toml_config
from bot.backends.http import CircuitBreaker, JsonHttp, OAuth2ClientCredentials
from bot.domain.digest import score_payload
from bot.domain.errors import BackendUnavailable, BackendUnsupported
from bot.domain.models import (
    AttendanceRecord,
    FeeItem,
    GradingForm,
    Guardian,
    SchoolClass,
    SchoolInfo,
    Student,
    SubjectScores,
    Teacher,
    Term,
    TimetableSlot,
)
from bot.domain.phone import normalize_phone
from bot.domain.text import fold
from bot.ports import Capability, Change, ChangeBatch, Clock, SchoolBackend

Kind = Literal["tx", "gk", "ck", "nx"]
GUARDIAN_ROLES = {"parent", "guardian", "relative"}
ROLE_LABELS = {"parent": "Phụ huynh", "guardian": "Người giám hộ", "relative": "Người thân"}
_TITLE_KINDS: tuple[tuple[Kind, tuple[str, ...]], ...] = (
    ("tx", ("tx", "thuong xuyen", "regular")),
    ("gk", ("gk", "giua ky", "giua ki", "midterm")),
    ("ck", ("ck", "cuoi ky", "cuoi ki", "final")),
    ("nx", ("nx", "nhan xet", "comment")),
)


class OneRosterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str  # ".../ims/oneroster"
    rostering_path: str = "/rostering/v1p2"
    gradebook_path: str = "/gradebook/v1p2"
    token_url: str  # absolute, or relative to base_url
    client_id: str
    client_secret: SecretStr
    scope: str = (
        "https://purl.imsglobal.org/spec/or/v1p2/scope/roster.readonly "
        "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.readonly"
    )
    school_sourced_id: str = ""  # the org of this school; empty = the only org of type school
    terms: dict[str, str] = Field(default_factory=dict)  # "1"/"2" -> academicSession sourcedId
    categories: dict[str, Kind] = Field(default_factory=dict)  # category id or title -> kind
    page_size: int = Field(default=100, ge=1, le=10_000)
    roster_ttl_seconds: float = Field(default=900, ge=0)  # how long the roster is reused
    timeout_seconds: float = Field(default=8.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=5)
    backoff_seconds: float = Field(default=0.2, ge=0, le=10)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30, ge=0)
    check_student_code: str = ""

    @model_validator(mode="after")
    def _sane(self) -> OneRosterConfig:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL")
        if set(self.terms) - {"1", "2"}:
            raise ValueError('terms maps "1" and "2" (HK1, HK2) to academic session ids')
        return self


def load_config(path: Path) -> OneRosterConfig:
    return load_toml_config(path, OneRosterConfig, what="the OneRoster config")


@dataclass(slots=True)
class _Roster:
    """One snapshot of the rostering collections, indexed."""

    fetched_at: dt.datetime
    school_name: str = ""
    school_year: str = ""
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    homerooms: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> class
    scheduled: dict[str, dict[str, Any]] = field(default_factory=dict)
    homeroom_by_code: dict[str, str] = field(default_factory=dict)  # classCode -> id
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    birth_dates: dict[str, dt.date] = field(default_factory=dict)
    student_homeroom: dict[str, str] = field(default_factory=dict)
    student_classes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    homeroom_teacher: dict[str, str] = field(default_factory=dict)  # class id -> teacher id
    teacher_homerooms: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    teacher_taught: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    students_by_code: dict[str, str] = field(default_factory=dict)
    line_items: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # class id -> its line items
    categories: dict[str, str] = field(default_factory=dict)  # id -> title


def _ref(obj: Any) -> str:
    return str(obj.get("sourcedId", "")) if isinstance(obj, dict) else ""


def _active(obj: dict[str, Any]) -> bool:
    return bool(obj.get("status", "active") != "tobedeleted")


def _roles(user: dict[str, Any]) -> set[str]:
    roles = {str(r.get("role", "")) for r in user.get("roles", []) if isinstance(r, dict)}
    if user.get("role"):
        roles.add(str(user["role"]))
    return roles


def _name(user: dict[str, Any]) -> str:
    parts = [user.get("familyName"), user.get("middleName"), user.get("givenName")]
    return " ".join(str(p).strip() for p in parts if p and str(p).strip())


def _fold_code(code: str) -> str:
    return re.sub(r"\s+", "", code).upper()


def _phone(user: dict[str, Any]) -> str:
    raw = str(user.get("phone") or user.get("sms") or "").strip()
    return normalize_phone(raw) or raw


class OneRosterBackend:
    """A :class:`bot.ports.SchoolBackend` over a OneRoster 1.2 provider."""

    def __init__(
        self,
        config: OneRosterConfig,
        *,
        school_id: str,
        client: httpx.AsyncClient,
        clock: Clock,
    ) -> None:
        self._config = config
        self._school_id = school_id
        self._clock = clock
        base = config.base_url.rstrip("/")
        token_url = config.token_url
        if not token_url.startswith(("http://", "https://")):
            token_url = f"{base}/{token_url.lstrip('/')}"
        self.auth = OAuth2ClientCredentials(
            token_url=token_url,
            client_id=config.client_id,
            client_secret=config.client_secret.get_secret_value(),
            scope=config.scope,
            clock=clock,
            timeout=config.timeout_seconds,
        )
        self.http = JsonHttp(
            client,
            base_url=base,
            auth=self.auth,
            breaker=CircuitBreaker(
                clock=clock,
                failures=config.breaker_failures,
                cooldown_seconds=config.breaker_cooldown_seconds,
            ),
            timeout=config.timeout_seconds,
            retries=config.retries,
            backoff_seconds=config.backoff_seconds,
        )
        self._roster: _Roster | None = None

    @property
    def capabilities(self) -> frozenset[Capability]:
        return manifest.capabilities

    @property
    def check_student_code(self) -> str:
        return self._config.check_student_code

    # --- paging -------------------------------------------------------------------------

    async def collection(self, path: str, key: str, *, filter_: str = "") -> list[dict[str, Any]]:
        """Every record of a collection, page by page."""
        out: list[dict[str, Any]] = []
        limit = self._config.page_size
        next_url: str | None = None
        followed_links = False
        for _ in range(10_000):  # a provider that pages forever is a broken provider
            if next_url is not None:
                response = await self.http.get(next_url, endpoint=key)
            else:
                params = {"limit": str(limit), "offset": str(len(out))}
                if filter_:
                    params["filter"] = filter_
                response = await self.http.get(path, endpoint=key, params=params)
            if response is None:
                return out
            page = response.body.get(key) if isinstance(response.body, dict) else None
            if not isinstance(page, list):
                raise BackendUnavailable(f"{key}: the answer has no {key!r} list")
            out.extend(r for r in page if isinstance(r, dict))
            next_url = _next_link(response.headers.get("link", ""))
            if next_url is not None:
                followed_links = True
                continue
            if followed_links or not page:
                return out  # the provider pages with Link headers: no next link, no more
            total = response.headers.get("x-total-count")
            if (total is not None and len(out) >= int(total)) or (
                total is None and len(page) < limit
            ):
                return out
        raise BackendUnavailable(f"{key}: paging did not end")

    # --- the roster snapshot --------------------------------------------------------------

    async def _snapshot(self, *, fresh: bool = False) -> _Roster:
        now = self._clock.now()
        ttl = dt.timedelta(seconds=self._config.roster_ttl_seconds)
        if not fresh and self._roster is not None and now - self._roster.fetched_at < ttl:
            return self._roster
        ros = self._config.rostering_path
        gb = self._config.gradebook_path
        try:
            orgs = await self.collection(f"{ros}/orgs", "orgs")
            sessions = await self.collection(f"{ros}/academicSessions", "academicSessions")
            classes = await self.collection(f"{ros}/classes", "classes")
            users = await self.collection(f"{ros}/users", "users")
            enrollments = await self.collection(f"{ros}/enrollments", "enrollments")
            demographics = await self.collection(f"{ros}/demographics", "demographics")
            categories = await self.collection(f"{gb}/categories", "categories")
            line_items = await self.collection(f"{gb}/lineItems", "lineItems")
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise BackendUnavailable("the roster does not have the OneRoster shape") from err
        try:
            r = self._index(now, orgs, sessions, classes, users, enrollments, demographics)
            self._index_gradebook(r, categories, line_items)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise BackendUnavailable("the roster does not have the OneRoster shape") from err
        self._roster = r
        return r

    def _index(
        self,
        now: dt.datetime,
        orgs: list[dict[str, Any]],
        sessions: list[dict[str, Any]],
        classes: list[dict[str, Any]],
        users: list[dict[str, Any]],
        enrollments: list[dict[str, Any]],
        demographics: list[dict[str, Any]],
    ) -> _Roster:
        r = _Roster(fetched_at=now)
        school = self._config.school_sourced_id
        for org in orgs:
            if (school and org.get("sourcedId") == school) or (
                not school and org.get("type") == "school"
            ):
                r.school_name = str(org.get("name", ""))
                school = str(org.get("sourcedId"))
                break
        for s in sessions:
            r.sessions[str(s.get("sourcedId"))] = s
            if s.get("type") == "schoolYear" and not r.school_year:
                r.school_year = str(s.get("title", ""))
        for c in classes:
            if not _active(c) or (school and _ref(c.get("school")) not in ("", school)):
                continue
            cid = str(c["sourcedId"])
            if c.get("classType") == "homeroom":
                r.homerooms[cid] = c
                r.homeroom_by_code[str(c.get("classCode") or c.get("title"))] = cid
            else:
                r.scheduled[cid] = c
        for u in users:
            if _active(u):
                r.users[str(u["sourcedId"])] = u
                if "student" in _roles(u) and u.get("identifier"):
                    r.students_by_code[_fold_code(str(u["identifier"]))] = str(u["sourcedId"])
        for d in demographics:
            if d.get("birthDate"):
                r.birth_dates[str(d["sourcedId"])] = dt.date.fromisoformat(str(d["birthDate"]))
        for e in enrollments:
            if not _active(e):
                continue
            uid, cid, role = _ref(e.get("user")), _ref(e.get("class")), e.get("role")
            if role == "student":
                r.student_classes[uid].add(cid)
                if cid in r.homerooms:
                    r.student_homeroom[uid] = cid
            elif role == "teacher":
                if cid in r.homerooms and e.get("primary", False):
                    r.homeroom_teacher[cid] = uid
                    r.teacher_homerooms[uid].add(cid)
                elif cid in r.scheduled:
                    code = str(r.scheduled[cid].get("classCode", ""))
                    if code in r.homeroom_by_code:
                        r.teacher_taught[uid].add(r.homeroom_by_code[code])
        return r

    @staticmethod
    def _index_gradebook(
        r: _Roster, categories: list[dict[str, Any]], line_items: list[dict[str, Any]]
    ) -> None:
        for cat in categories:
            r.categories[str(cat.get("sourcedId"))] = str(cat.get("title", ""))
        for li in line_items:
            if _active(li):
                r.line_items[_ref(li.get("class"))].append(li)

    def _kind(self, roster: _Roster, category_id: str) -> Kind | None:
        title = roster.categories.get(category_id, "")
        configured = self._config.categories
        if category_id in configured:
            return configured[category_id]
        if title in configured:
            return configured[title]
        folded = fold(title).strip()
        for kind, names in _TITLE_KINDS:
            if folded in names or any(folded.startswith(n + " ") for n in names):
                return kind
        return None

    # --- SchoolBackend ----------------------------------------------------------------------

    async def school_info(self) -> SchoolInfo:
        r = await self._snapshot()
        today = self._clock.now().date()
        term = Term.HK1
        for number, session_id in self._config.terms.items():
            s = r.sessions.get(session_id)
            if s and str(s.get("startDate", "")) <= today.isoformat() <= str(s.get("endDate", "")):
                term = Term(int(number))
        return SchoolInfo(
            id=self._school_id, name=r.school_name, school_year=r.school_year, current_term=term
        )

    def _student(self, r: _Roster, uid: str) -> Student | None:
        user = r.users.get(uid)
        homeroom = r.homerooms.get(r.student_homeroom.get(uid, ""))
        if user is None or homeroom is None or "student" not in _roles(user):
            return None
        return Student(
            id=uid,
            school_id=self._school_id,
            code=str(user.get("identifier", "")),
            full_name=_name(user),
            class_id=str(homeroom["sourcedId"]),
            class_name=str(homeroom.get("title", "")),
            birth_date=r.birth_dates.get(uid),
        )

    async def find_student(self, code: str) -> Student | None:
        folded = _fold_code(code)
        if not folded:
            return None
        r = await self._snapshot()
        uid = r.students_by_code.get(folded)
        return self._student(r, uid) if uid else None

    async def get_student(self, student_id: str) -> Student | None:
        return self._student(await self._snapshot(), student_id)

    async def class_students(self, class_id: str) -> Sequence[Student]:
        r = await self._snapshot()
        ids = [sid for sid, cid in r.student_homeroom.items() if cid == class_id]
        students = [s for s in (self._student(r, sid) for sid in ids) if s is not None]
        return sorted(students, key=lambda st: (st.given_name, st.full_name))

    async def changes_since(
        self, watermark: dt.datetime | None, *, now: dt.datetime
    ) -> ChangeBatch:
        """New or changed **scores** only: the gradebook ``results`` modified after the
        watermark (``filter=dateLastModified>'…'``, paged like every collection). OneRoster
        has no attendance or fees, so those never appear. A result's key is its ``sourcedId``
        and ``dateLastModified``: one version of one mark."""
        if watermark is None:
            return ChangeBatch(changes=(), watermark=now)
        try:
            return await self._changes(watermark)
        except (KeyError, TypeError, ValueError, ArithmeticError) as err:
            raise BackendUnavailable("gradebook results do not have the OneRoster shape") from err

    async def _changes(self, watermark: dt.datetime) -> ChangeBatch:
        # whole seconds, cut (not rounded up): the poll starts a little early, keys drop repeats
        since = watermark.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        results = await self.collection(
            f"{self._config.gradebook_path}/results",
            "results",
            filter_=f"dateLastModified>'{since}'",
        )
        results = [x for x in results if _active(x) and x.get("dateLastModified")]
        r = await self._snapshot()
        items = {str(li["sourcedId"]): li for lis in r.line_items.values() for li in lis}
        if any(_ref(x.get("lineItem")) not in items for x in results):
            r = await self._snapshot(fresh=True)  # a line item newer than our roster snapshot
            items = {str(li["sourcedId"]): li for lis in r.line_items.values() for li in lis}
        terms = {session: int(number) for number, session in self._config.terms.items()}
        newest = watermark
        changes: dict[str, Change] = {}
        for x in results:
            modified = _datetime(str(x["dateLastModified"]))
            newest = max(newest, modified)
            payload = self._score_payload(r, items.get(_ref(x.get("lineItem"))), x, terms)
            student = _ref(x.get("student"))
            if payload is None or self._student(r, student) is None:
                continue
            key = f"result:{x['sourcedId']}:{modified.isoformat()}"
            changes.setdefault(
                key,
                Change(
                    kind="scores",
                    student_id=student,
                    key=key,
                    occurred_at=modified,
                    payload=payload,
                ),
            )
        ordered = sorted(changes.values(), key=lambda c: c.occurred_at)
        return ChangeBatch(changes=tuple(ordered), watermark=newest)

    def _score_payload(
        self,
        r: _Roster,
        line_item: dict[str, Any] | None,
        result: dict[str, Any],
        terms: dict[str, int],
    ) -> dict[str, Any] | None:
        """The digest payload of one result, or ``None`` when it is not a mark we report (no
        score yet, another school's class, an unmapped category or term)."""
        if line_item is None:
            return None
        cls = r.scheduled.get(_ref(line_item.get("class")))
        kind = self._kind(r, _ref(line_item.get("category")))
        if cls is None or kind is None:
            return None
        period = _ref(line_item.get("gradingPeriod"))
        if terms and period not in terms:
            return None  # a grading period that is not this year's HK I or HK II
        term = terms.get(period, 1)
        names = cls.get("subjects") or [cls.get("title", "")]
        if kind == "nx":
            text = fold(str(result.get("textScore") or "")).strip()
            if not text:
                return None
            passed = text in ("d", "dat", "pass")
            return score_payload(
                subject=str(names[0]), score_kind="cmt", term=term, value=None, passed=passed
            )
        if result.get("score") is None:
            return None
        return score_payload(
            subject=str(names[0]),
            score_kind=kind,
            term=term,
            value=Decimal(str(result["score"])),
            passed=None,
        )

    async def guardians(self, student_id: str) -> Sequence[Guardian]:
        r = await self._snapshot()
        user = r.users.get(student_id)
        if user is None:
            return []
        out = []
        for agent in user.get("agents", []):
            g = r.users.get(_ref(agent))
            roles = _roles(g) & GUARDIAN_ROLES if g else set()
            if g is None or not roles:
                continue
            meta = g.get("metadata")
            meta = meta if isinstance(meta, dict) else {}
            relation = str(meta.get("relation", "")) or ROLE_LABELS[sorted(roles)[0]]
            out.append(
                Guardian(id=str(g["sourcedId"]), name=_name(g), phone=_phone(g), relation=relation)
            )
        return out

    async def scores(self, student_id: str, term: Term) -> Sequence[SubjectScores]:
        try:
            return await self._scores(student_id, term)
        except (KeyError, TypeError, ValueError, ArithmeticError) as err:
            raise BackendUnavailable("gradebook results do not have the OneRoster shape") from err

    async def _scores(self, student_id: str, term: Term) -> list[SubjectScores]:
        r = await self._snapshot()
        if student_id not in r.users:
            return []
        period = self._config.terms.get(str(int(term)))
        results = await self.collection(
            f"{self._config.gradebook_path}/results",
            "results",
            filter_=f"student.sourcedId='{student_id}'",
        )
        by_item = {_ref(x.get("lineItem")): x for x in results if _active(x)}
        out = []
        for cid in sorted(r.student_classes.get(student_id, set())):
            cls = r.scheduled.get(cid)
            if cls is None:
                continue
            items = [
                li
                for li in r.line_items.get(cid, [])
                if period is None or _ref(li.get("gradingPeriod")) == period
            ]
            if not items:
                continue
            items.sort(key=lambda li: (str(li.get("assignDate", "")), str(li.get("sourcedId"))))
            kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for li in items:
                kind = self._kind(r, _ref(li.get("category")))
                if kind is not None:
                    kinds[kind].append(li)
            graded = [
                by_item[str(li["sourcedId"])] for li in items if str(li["sourcedId"]) in by_item
            ]
            if not graded:
                continue
            updated = [str(x["dateLastModified"]) for x in graded if x.get("dateLastModified")]

            comments = tuple(
                fold(str(by_item[str(li["sourcedId"])].get("textScore", ""))).strip()
                in ("d", "dat", "pass")
                for li in kinds.get("nx", [])
                if str(li["sourcedId"]) in by_item
            )
            comment_form = bool(kinds.get("nx")) and not kinds.get("tx")
            mid, fin = _marks(kinds.get("gk", []), by_item), _marks(kinds.get("ck", []), by_item)
            codes = cls.get("subjectCodes") or [cid]
            names = cls.get("subjects") or [cls.get("title", "")]
            out.append(
                SubjectScores(
                    subject_code=str(codes[0]),
                    subject_name=str(names[0]),
                    form=GradingForm.COMMENT if comment_form else GradingForm.SCORED,
                    term=term,
                    regular=() if comment_form else tuple(_marks(kinds.get("tx", []), by_item)),
                    midterm=mid[0] if mid else None,
                    final=fin[0] if fin else None,
                    required_regular=len(kinds.get("nx" if comment_form else "tx", [])),
                    comment_results=comments,
                    updated_at=_datetime(max(updated)) if updated else None,
                )
            )
        return out

    async def timetable(self, class_id: str) -> Sequence[TimetableSlot]:
        raise BackendUnsupported("OneRoster has no timetable")

    async def fees(self, student_id: str) -> Sequence[FeeItem]:
        raise BackendUnsupported("OneRoster has no fees")

    async def attendance(self, student_id: str) -> Sequence[AttendanceRecord]:
        raise BackendUnsupported("OneRoster has no attendance")

    async def classes(self) -> Sequence[SchoolClass]:
        r = await self._snapshot()
        out = []
        for cid, c in r.homerooms.items():
            grades = c.get("grades") or ["0"]
            out.append(
                SchoolClass(
                    id=cid,
                    school_id=self._school_id,
                    name=str(c.get("title", "")),
                    grade=_grade(grades[0]),
                    homeroom_teacher_id=r.homeroom_teacher.get(cid),
                )
            )
        return sorted(out, key=lambda c: (c.grade, c.name))

    async def teachers(self) -> Sequence[Teacher]:
        r = await self._snapshot()
        out = [
            Teacher(
                id=uid,
                school_id=self._school_id,
                code=str(u.get("identifier", "")),
                full_name=_name(u),
                phone=_phone(u),
                homeroom_class_ids=tuple(sorted(r.teacher_homerooms.get(uid, set()))),
                subject_class_ids=tuple(sorted(r.teacher_taught.get(uid, set()))),
            )
            for uid, u in r.users.items()
            if "teacher" in _roles(u)
        ]
        return sorted(out, key=lambda t: t.code)

    async def find_teacher(self, code: str) -> Teacher | None:
        folded = _fold_code(code)
        if not folded:
            return None
        return next((t for t in await self.teachers() if _fold_code(t.code) == folded), None)

    async def record_absence(
        self, student_id: str, day: dt.date, session: str, *, excused: bool, reason: str
    ) -> None:
        raise BackendUnsupported("OneRoster has no attendance to write to")


def _grade(value: Any) -> int:
    """OneRoster grades are CEDS codes ("06"); anything else counts as 0 (unknown)."""
    text = str(value).strip()
    return int(text) if text.isdigit() else 0


def _marks(items: list[dict[str, Any]], by_item: dict[str, dict[str, Any]]) -> list[Decimal]:
    """The scores of these line items that have a result, in line item order."""
    out = []
    for li in items:
        res = by_item.get(str(li["sourcedId"]))
        if res is not None and res.get("score") is not None:
            out.append(Decimal(str(res["score"])))
    return out


def _datetime(text: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        m = re.match(r'\s*<([^>]+)>\s*;.*rel="?next"?', part)
        if m:
            return m.group(1)
    return None


def _factory(config: Any, deps: BackendDeps) -> SchoolBackend:
    if deps.http is None:
        raise ValueError("oneroster needs an HTTP client")
    return OneRosterBackend(config, school_id=deps.school_id, client=deps.http, clock=deps.clock)


manifest = BackendManifest(
    name="oneroster",
    title="OneRoster 1.2 rostering and gradebook (OAuth2 client credentials)",
    capabilities=frozenset(
        {Capability.STUDENTS, Capability.SCORES, Capability.STAFF, Capability.CHANGES}
    ),
    config_help=(
        "LIENLAC_BACKEND__MAPPING points at a TOML file: base_url, token_url, client_id, "
        "client_secret, terms (HK1/HK2 academic session ids), optional categories."
    ),
    config_model=OneRosterConfig,
    load_config=load_config,
    factory=_factory,
    needs_http=True,
)
