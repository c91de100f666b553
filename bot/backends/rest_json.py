"""The ``rest_json`` backend: any HTTP/JSON school system (QLHS), described by a mapping file.

The mapping (TOML, see the README "Connect a REST QLHS") gives the base URL, the auth, and per
question an endpoint template plus a field mapping in a small JSONPath-like syntax
(:mod:`bot.backends.jsonpath`). A question without an endpoint is a capability the school
does not offer. HTTP behaviour (timeouts, retries on GETs, circuit breaker, error
translation) lives in :mod:`bot.backends.http`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import string
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from bot.backends.base import BackendDeps, BackendManifest, load_toml_config
from bot.backends.http import (
    Auth,
    CircuitBreaker,
    HeaderAuth,
    JsonHttp,
    NoAuth,
    OAuth2ClientCredentials,
)
from bot.backends.jsonpath import JsonPath, PathSyntaxError
from bot.domain.calendar import DEFAULT_TIMEZONE
from bot.domain.digest import SCORE_KINDS, absence_payload, fee_payload, score_payload
from bot.domain.errors import BackendUnavailable, BackendUnsupported
from bot.domain.models import (
    AttendanceRecord,
    FeeItem,
    GradingForm,
    Guardian,
    SchoolClass,
    SchoolInfo,
    Session,
    Student,
    SubjectScores,
    Teacher,
    Term,
    TimetableSlot,
)
from bot.domain.phone import normalize_phone
from bot.domain.text import fold
from bot.ports import Capability, Change, ChangeBatch, Clock, SchoolBackend

T = TypeVar("T")
log = logging.getLogger(__name__)

# endpoint name -> (placeholders it may use, fields it must map, capability it gives)
ENDPOINTS: dict[str, tuple[frozenset[str], frozenset[str], Capability | None]] = {
    "school_info": (frozenset(), frozenset({"name"}), None),
    "find_student": (
        frozenset({"code"}),
        frozenset({"id", "code", "full_name", "class_id", "class_name"}),
        Capability.STUDENTS,
    ),
    "get_student": (
        frozenset({"student_id"}),
        frozenset({"id", "code", "full_name", "class_id", "class_name"}),
        None,
    ),
    "guardians": (frozenset({"student_id"}), frozenset({"id", "name", "phone"}), None),
    "scores": (
        frozenset({"student_id", "term"}),
        frozenset({"subject_code", "subject_name"}),
        Capability.SCORES,
    ),
    "timetable": (
        frozenset({"class_id"}),
        frozenset({"weekday", "session", "period", "subject_name"}),
        Capability.TIMETABLE,
    ),
    "fees": (frozenset({"student_id"}), frozenset({"id", "name", "amount"}), Capability.FEES),
    "attendance": (
        frozenset({"student_id"}),
        frozenset({"date", "excused"}),
        Capability.ATTENDANCE,
    ),
    "classes": (frozenset(), frozenset({"id", "name", "grade"}), None),
    "class_students": (
        frozenset({"class_id"}),
        frozenset({"id", "code", "full_name", "class_id", "class_name"}),
        Capability.ROSTER,
    ),
    "teachers": (frozenset(), frozenset({"id", "code", "full_name"}), Capability.STAFF),
    "record_absence": (
        frozenset({"student_id", "day", "session", "excused", "reason"}),
        frozenset(),
        Capability.ABSENCE_WRITE,
    ),
    # New or changed scores, absences and fees since {since}; see RestJsonBackend.changes_since
    "changes": (
        frozenset({"since", "page"}),
        frozenset({"kind", "id", "student_id", "occurred_at"}),
        Capability.CHANGES,
    ),
}
CHANGE_KINDS = ("scores", "attendance", "fees")
MAX_CHANGE_PAGES = 1000  # a QLHS that pages forever is a broken QLHS
REQUIRED_ENDPOINTS = ("find_student", "get_student", "guardians")


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "bearer", "api_key", "oauth2"] = "none"
    token: SecretStr | None = None  # bearer
    header: str = "X-API-Key"  # api_key
    key: SecretStr | None = None  # api_key
    token_url: str | None = None  # oauth2 (absolute, or relative to base_url)
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scope: str = ""

    @model_validator(mode="after")
    def _complete(self) -> AuthConfig:
        if self.kind == "bearer" and self.token is None:
            raise ValueError("auth.kind = bearer needs auth.token")
        if self.kind == "api_key" and self.key is None:
            raise ValueError("auth.kind = api_key needs auth.key (and optionally auth.header)")
        if self.kind == "oauth2" and not (self.token_url and self.client_id and self.client_secret):
            raise ValueError("auth.kind = oauth2 needs auth.token_url, client_id, client_secret")
        return self


class EndpointConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str  # "/students/{student_id}/scores?term={term}"
    method: Literal["GET", "POST"] = "GET"
    items: str = "$"  # where the records are: "$.data.items[*]" (a list) or "$.data" (one)
    fields: dict[str, str] = Field(default_factory=dict)  # our field -> path in one record
    body: dict[str, str] = Field(default_factory=dict)  # POST: JSON key -> {placeholder} text
    values: dict[str, dict[str, str]] = Field(default_factory=dict)  # field: QLHS value -> ours
    # Only for ``changes``:
    since_format: str = "iso"  # iso | epoch | epoch_ms | a strftime pattern ("%d/%m/%Y %H:%M")
    time_zone: str = "UTC"  # the zone of {since} and of times the QLHS sends without an offset
    next: str = ""  # paging by link: path to the next page's URL in the answer (empty = last)

    def placeholders(self) -> set[str]:
        names = {n for _, n, _, _ in string.Formatter().parse(self.path) if n}
        for value in self.body.values():
            names |= {n for _, n, _, _ in string.Formatter().parse(value) if n}
        return names


class SchoolConfig(BaseModel):
    """Static school facts, used when the QLHS has no ``school_info`` endpoint."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    school_year: str = ""
    current_term: Term = Term.HK1
    timezone: str = DEFAULT_TIMEZONE


class CheckConfig(BaseModel):
    """What ``check-config`` asks the QLHS for: a real student code of the school."""

    model_config = ConfigDict(extra="forbid")

    student_code: str = ""


class RestJsonConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str
    timeout_seconds: float = Field(default=8.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=5)  # extra attempts for GETs
    backoff_seconds: float = Field(default=0.2, ge=0, le=10)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30, ge=0)
    auth: AuthConfig = AuthConfig()
    school: SchoolConfig = SchoolConfig()
    term_values: dict[str, str] = Field(default_factory=lambda: {"1": "1", "2": "2"})
    endpoints: dict[str, EndpointConfig]
    check: CheckConfig = CheckConfig()

    @model_validator(mode="after")
    def _endpoints_make_sense(self) -> RestJsonConfig:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL")
        for name in REQUIRED_ENDPOINTS:
            if name not in self.endpoints:
                raise ValueError(f"endpoints.{name} is required (parents are verified with it)")
        if "school_info" not in self.endpoints and not self.school.name:
            raise ValueError("set school.name, or map endpoints.school_info")
        for name, endpoint in self.endpoints.items():
            if name not in ENDPOINTS:
                raise ValueError(
                    f"unknown endpoint {name!r}; known: {', '.join(sorted(ENDPOINTS))}"
                )
            allowed, required, _ = ENDPOINTS[name]
            extra = endpoint.placeholders() - allowed
            if extra:
                raise ValueError(
                    f"endpoints.{name}.path uses {{{sorted(extra)[0]}}}; "
                    f"it may use only {sorted(allowed) or 'no placeholders'}"
                )
            missing = required - set(endpoint.fields)
            if missing:
                raise ValueError(f"endpoints.{name}.fields must map {', '.join(sorted(missing))}")
            try:
                JsonPath.parse(endpoint.items)
                for path in endpoint.fields.values():
                    JsonPath.parse(path)
            except PathSyntaxError as err:
                raise ValueError(f"endpoints.{name}: {err}") from err
            if name == "record_absence" and endpoint.method != "POST":
                raise ValueError("endpoints.record_absence.method must be POST")
            if name == "changes":
                _check_changes(endpoint)
            elif (endpoint.since_format, endpoint.time_zone, endpoint.next) != ("iso", "UTC", ""):
                raise ValueError(
                    f"endpoints.{name}: since_format, time_zone and next are for "
                    "endpoints.changes only"
                )
        return self


def _check_changes(endpoint: EndpointConfig) -> None:
    """The ``changes`` endpoint: a {since} to poll with, a known time format and zone, one
    way of paging, and kinds that translate to ours."""
    used = endpoint.placeholders()
    if "since" not in used:
        raise ValueError("endpoints.changes.path must use {since} (changes after that moment)")
    if endpoint.method != "GET":
        raise ValueError("endpoints.changes.method must be GET")
    if "page" in used and endpoint.next:
        raise ValueError("endpoints.changes: page by {page} or by next, not both")
    fmt = endpoint.since_format
    if fmt not in ("iso", "epoch", "epoch_ms") and "%" not in fmt:
        raise ValueError(
            "endpoints.changes.since_format must be iso, epoch, epoch_ms or a strftime pattern"
        )
    try:
        ZoneInfo(endpoint.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"endpoints.changes.time_zone {endpoint.time_zone!r} is unknown") from err
    if endpoint.next:
        try:
            JsonPath.parse(endpoint.next)
        except PathSyntaxError as err:
            raise ValueError(f"endpoints.changes.next: {err}") from err
    wrong = set(endpoint.values.get("kind", {}).values()) - set(CHANGE_KINDS)
    if wrong:
        raise ValueError(
            f"endpoints.changes.values.kind maps to {sorted(wrong)[0]!r}; "
            f"kinds are {', '.join(CHANGE_KINDS)}"
        )


def load_config(path: Path) -> RestJsonConfig:
    """Read and validate a mapping file; ``ValueError`` with one sentence if it is wrong."""
    return load_toml_config(path, RestJsonConfig, what="the mapping file")


def build_auth(config: RestJsonConfig, clock: Clock, http_base: str) -> Auth:
    a = config.auth
    if a.kind == "bearer":
        assert a.token is not None
        return HeaderAuth("Authorization", f"Bearer {a.token.get_secret_value()}")
    if a.kind == "api_key":
        assert a.key is not None
        return HeaderAuth(a.header, a.key.get_secret_value())
    if a.kind == "oauth2":
        assert a.token_url is not None
        assert a.client_id is not None
        assert a.client_secret is not None
        url = a.token_url
        if not url.startswith(("http://", "https://")):
            url = f"{http_base.rstrip('/')}/{url.lstrip('/')}"
        return OAuth2ClientCredentials(
            token_url=url,
            client_id=a.client_id,
            client_secret=a.client_secret.get_secret_value(),
            scope=a.scope,
            clock=clock,
            timeout=config.timeout_seconds,
        )
    return NoAuth()


class MappingMiss(BackendUnavailable):
    """The QLHS answered, but not in the shape the mapping file describes."""


class RestJsonBackend:
    """A :class:`bot.ports.SchoolBackend` over one QLHS HTTP API."""

    def __init__(
        self,
        config: RestJsonConfig,
        *,
        school_id: str,
        client: httpx.AsyncClient,
        clock: Clock,
    ) -> None:
        self._config = config
        self._school_id = school_id
        self._clock = clock
        self.http = JsonHttp(
            client,
            base_url=config.base_url,
            auth=build_auth(config, clock, config.base_url),
            breaker=CircuitBreaker(
                clock=clock,
                failures=config.breaker_failures,
                cooldown_seconds=config.breaker_cooldown_seconds,
            ),
            timeout=config.timeout_seconds,
            retries=config.retries,
            backoff_seconds=config.backoff_seconds,
        )
        self._capabilities = frozenset(
            {Capability.STUDENTS}
            | {cap for name, (_, _, cap) in ENDPOINTS.items() if cap and name in config.endpoints}
        )

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self._capabilities

    @property
    def check_student_code(self) -> str:
        return self._config.check.student_code

    # --- reading ------------------------------------------------------------------------

    async def _records(self, name: str, **values: str) -> list[dict[str, Any]] | None:
        """The records an endpoint answers (None on 404), each a JSON object."""
        endpoint = self._config.endpoints.get(name)
        if endpoint is None:
            raise BackendUnsupported(f"no endpoint {name} in the mapping")
        path = endpoint.path.format(**{k: quote(v, safe="") for k, v in values.items()})
        response = await self.http.get(path, endpoint=name)
        if response is None:
            return None
        found = JsonPath.parse(endpoint.items).find(response.body)
        records = [r for r in found if isinstance(r, dict)]
        if len(records) != len(found):
            raise MappingMiss(f"{name}: items at {endpoint.items} are not JSON objects")
        return records

    def _field(self, name: str, record: dict[str, Any], field: str) -> Any:
        path = self._config.endpoints[name].fields.get(field)
        if path is None:
            return None
        parsed = JsonPath.parse(path)
        value = parsed.find(record) if parsed.fans_out else parsed.first(record)
        table = self._config.endpoints[name].values.get(field)
        if table and isinstance(value, str | int | bool):
            value = table.get(str(value).lower() if isinstance(value, bool) else str(value), value)
        return value

    def _build(
        self, name: str, records: Sequence[dict[str, Any]], make: Callable[[_Fields], T]
    ) -> list[T]:
        out = []
        for record in records:
            try:
                out.append(make(_Fields(self, name, record)))
            except (ValueError, TypeError, KeyError, InvalidOperation) as err:
                raise MappingMiss(f"{name}: a record does not fit the mapping ({err})") from err
        return out

    async def school_info(self) -> SchoolInfo:
        s = self._config.school
        if "school_info" not in self._config.endpoints:
            return SchoolInfo(
                id=self._school_id,
                name=s.name,
                timezone=s.timezone,
                school_year=s.school_year,
                current_term=s.current_term,
            )
        records = await self._records("school_info") or []
        if not records:
            raise MappingMiss("school_info: no record")
        f = _Fields(self, "school_info", records[0])
        try:
            term = f.opt_int("current_term")
            return SchoolInfo(
                id=self._school_id,
                name=f.text("name"),
                timezone=f.opt_text("timezone") or s.timezone,
                school_year=f.opt_text("school_year") or s.school_year,
                current_term=Term(term) if term else s.current_term,
            )
        except (ValueError, TypeError) as err:
            raise MappingMiss(f"school_info does not fit the mapping ({err})") from err

    async def find_student(self, code: str) -> Student | None:
        wanted = _fold_code(code)
        if not wanted:
            return None
        records = await self._records("find_student", code=code.strip()) or []
        students = self._build("find_student", records, self._student)
        # the contract: case-insensitive, and a QLHS search may answer near matches too
        return next((s for s in students if _fold_code(s.code) == wanted), None)

    async def get_student(self, student_id: str) -> Student | None:
        records = await self._records("get_student", student_id=student_id) or []
        students = self._build("get_student", records, self._student)
        return next((s for s in students if s.id == student_id), None)

    def _student(self, f: _Fields) -> Student:
        return Student(
            id=f.text("id"),
            school_id=self._school_id,
            code=f.text("code"),
            full_name=f.text("full_name"),
            class_id=f.text("class_id"),
            class_name=f.text("class_name"),
            birth_date=f.opt_date("birth_date"),
        )

    async def class_students(self, class_id: str) -> Sequence[Student]:
        if "class_students" not in self._config.endpoints:
            raise BackendUnsupported("class_students is not mapped")
        records = await self._records("class_students", class_id=class_id) or []
        students = self._build("class_students", records, self._student)
        return sorted(students, key=lambda st: (st.given_name, st.full_name))

    async def changes_since(
        self, watermark: dt.datetime | None, *, now: dt.datetime
    ) -> ChangeBatch:
        """Polls ``endpoints.changes`` with ``{since}`` = the watermark, page by page.

        Each record is one new or changed score, absence or fee (``kind`` after ``values``).
        The key is kind, student, the QLHS's record ``id`` and its ``version`` (or, unmapped,
        ``occurred_at``), so the overlap re-reads a record without a second item. Paid fees
        are not news. A record that does not fit the mapping is skipped with a warning: one
        bad row must not stop every later change from reaching the parents.
        """
        endpoint = self._config.endpoints.get("changes")
        if endpoint is None:
            raise BackendUnsupported("no endpoint changes in the mapping")
        if watermark is None:
            return ChangeBatch(changes=(), watermark=now)
        zone = ZoneInfo(endpoint.time_zone)
        changes: dict[str, Change] = {}
        newest = watermark
        skipped = 0
        async for record in self._change_records(endpoint, _format_since(watermark, endpoint)):
            try:
                change = self._change(_Fields(self, "changes", record), zone)
            except (ValueError, TypeError, KeyError, InvalidOperation):
                skipped += 1
                continue
            if change is None:
                continue
            newest = max(newest, change.occurred_at)
            changes.setdefault(change.key, change)
        if skipped:
            log.warning("changes: %d record(s) did not fit the mapping and were skipped", skipped)
        ordered = sorted(changes.values(), key=lambda c: c.occurred_at)
        return ChangeBatch(changes=tuple(ordered), watermark=newest)

    async def _change_records(
        self, endpoint: EndpointConfig, since: str
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record of every page: ``{page}`` counts 1, 2, … until a page is empty;
        ``next`` follows the URL the answer names until it names none."""
        paged = "page" in endpoint.placeholders()
        url: str | None = None
        for page in range(1, MAX_CHANGE_PAGES + 1):
            if url is None:
                values = {"since": since, "page": str(page)}
                url = endpoint.path.format(**{k: quote(v, safe="") for k, v in values.items()})
            response = await self.http.get(url, endpoint="changes")
            if response is None:
                return  # 404: nothing to report
            found = JsonPath.parse(endpoint.items).find(response.body)
            records = [r for r in found if isinstance(r, dict)]
            if len(records) != len(found):
                raise MappingMiss(f"changes: items at {endpoint.items} are not JSON objects")
            for record in records:
                yield record
            if paged:
                if not records:
                    return
                url = None
            elif endpoint.next:
                link = JsonPath.parse(endpoint.next).first(response.body)
                if not isinstance(link, str) or not link.strip():
                    return
                url = self._same_site(link.strip())
            else:
                return
        raise MappingMiss(f"changes: paging did not end after {MAX_CHANGE_PAGES} pages")

    def _same_site(self, link: str) -> str:
        """The next page's absolute URL; only on the QLHS's own host (it gets our credentials)."""
        base = self._config.base_url.rstrip("/") + "/"
        absolute = urljoin(base, link)
        if urlsplit(absolute)[:2] != urlsplit(base)[:2]:
            raise MappingMiss("changes: the next page is on another host")
        return absolute

    def _change(self, f: _Fields, zone: ZoneInfo) -> Change | None:
        kind = f.text("kind")
        if kind not in CHANGE_KINDS:
            return None  # something we do not notify about (conduct, a timetable change…)
        student_id = f.text("student_id")
        occurred_at = _aware(f.raw("occurred_at"), zone)
        version = f.opt_text("version") or occurred_at.isoformat()
        key = f"{kind}:{student_id}:{f.text('id')}:{version}"
        urgent = False
        if kind == "scores":
            score_kind = f.opt_text("score_kind") or "tx"
            if score_kind == "nx":
                score_kind = "cmt"
            if score_kind not in SCORE_KINDS:
                raise ValueError("unknown score kind")
            term = f.opt_text("term")
            terms = {v: int(k) for k, v in self._config.term_values.items()}
            passed = f.raw("passed")
            payload = score_payload(
                subject=f.text("subject_name"),
                score_kind=score_kind,
                term=terms.get(term)
                or (int(term) if term else int(self._config.school.current_term)),
                value=f.opt_decimal("value"),
                passed=None if passed in (None, "") else _bool(passed),
            )
        elif kind == "attendance":
            excused = _bool(f.raw("excused"))
            session = _session_or_day(f.opt_text("session"))
            payload = absence_payload(
                date=_date(f.raw("date")),
                session=session.value if session else "day",
                excused=excused,
            )
            urgent = not excused  # absent without leave: the family should know now
        else:
            paid = f.raw("paid")
            if paid not in (None, "") and _bool(paid):
                return None
            payload = fee_payload(
                name=f.text("name"), amount=f.integer("amount"), due_date=f.opt_date("due_date")
            )
        return Change(
            kind=kind,
            student_id=student_id,
            key=key,
            occurred_at=occurred_at,
            payload=payload,
            urgent=urgent,
        )

    async def guardians(self, student_id: str) -> Sequence[Guardian]:
        records = await self._records("guardians", student_id=student_id) or []
        return self._build(
            "guardians",
            records,
            lambda f: Guardian(
                id=f.text("id"),
                name=f.text("name"),
                phone=_phone(f.text("phone")),
                relation=f.opt_text("relation"),
            ),
        )

    async def scores(self, student_id: str, term: Term) -> Sequence[SubjectScores]:
        term_value = self._config.term_values.get(str(int(term)), str(int(term)))
        records = await self._records("scores", student_id=student_id, term=term_value) or []
        return self._build(
            "scores",
            records,
            lambda f: SubjectScores(
                subject_code=f.text("subject_code"),
                subject_name=f.text("subject_name"),
                form=GradingForm(f.opt_text("form") or GradingForm.SCORED.value),
                term=term,
                regular=tuple(_decimal(x) for x in f.seq("regular")),
                midterm=f.opt_decimal("midterm"),
                final=f.opt_decimal("final"),
                required_regular=f.opt_int("required_regular") or 0,
                comment_results=tuple(_bool(x) for x in f.seq("comment_results")),
                updated_at=f.opt_datetime("updated_at"),
            ),
        )

    async def timetable(self, class_id: str) -> Sequence[TimetableSlot]:
        records = await self._records("timetable", class_id=class_id) or []
        slots = self._build(
            "timetable",
            records,
            lambda f: TimetableSlot(
                class_id=f.opt_text("class_id") or class_id,
                weekday=f.integer("weekday"),
                session=Session(f.text("session")),
                period=f.integer("period"),
                subject_name=f.text("subject_name"),
                teacher_name=f.opt_text("teacher_name"),
                room=f.opt_text("room"),
            ),
        )
        order = {Session.MORNING: 0, Session.AFTERNOON: 1}
        return sorted(slots, key=lambda s: (s.weekday, order[s.session], s.period))

    async def fees(self, student_id: str) -> Sequence[FeeItem]:
        records = await self._records("fees", student_id=student_id) or []
        return self._build(
            "fees",
            records,
            lambda f: FeeItem(
                id=f.text("id"),
                student_id=f.opt_text("student_id") or student_id,
                name=f.text("name"),
                amount=f.integer("amount"),
                due_date=f.opt_date("due_date"),
                paid=_bool(f.raw("paid")) if f.raw("paid") is not None else False,
                mandatory=_bool(f.raw("mandatory")) if f.raw("mandatory") is not None else True,
                paid_at=f.opt_datetime("paid_at"),
            ),
        )

    async def attendance(self, student_id: str) -> Sequence[AttendanceRecord]:
        records = await self._records("attendance", student_id=student_id) or []
        out = self._build(
            "attendance",
            records,
            lambda f: AttendanceRecord(
                student_id=f.opt_text("student_id") or student_id,
                date=_date(f.raw("date")),
                session=_session_or_day(f.opt_text("session")),
                excused=_bool(f.raw("excused")),
                reason=f.opt_text("reason"),
            ),
        )
        return sorted(out, key=lambda a: (a.date, a.session.value if a.session else "day"))

    async def classes(self) -> Sequence[SchoolClass]:
        if "classes" not in self._config.endpoints:
            return []
        records = await self._records("classes") or []
        out = self._build(
            "classes",
            records,
            lambda f: SchoolClass(
                id=f.text("id"),
                school_id=self._school_id,
                name=f.text("name"),
                grade=f.integer("grade"),
                homeroom_teacher_id=f.opt_text("homeroom_teacher_id") or None,
            ),
        )
        return sorted(out, key=lambda c: (c.grade, c.name))

    async def teachers(self) -> Sequence[Teacher]:
        if "teachers" not in self._config.endpoints:
            return []
        records = await self._records("teachers") or []
        out = self._build(
            "teachers",
            records,
            lambda f: Teacher(
                id=f.text("id"),
                school_id=self._school_id,
                code=f.text("code"),
                full_name=f.text("full_name"),
                phone=_phone(f.opt_text("phone")),
                homeroom_class_ids=tuple(sorted(str(x) for x in f.seq("homeroom_class_ids"))),
                subject_class_ids=tuple(sorted(str(x) for x in f.seq("subject_class_ids"))),
            ),
        )
        return sorted(out, key=lambda t: t.code)

    async def find_teacher(self, code: str) -> Teacher | None:
        wanted = _fold_code(code)
        if not wanted:
            return None
        return next((t for t in await self.teachers() if _fold_code(t.code) == wanted), None)

    async def record_absence(
        self, student_id: str, day: dt.date, session: str, *, excused: bool, reason: str
    ) -> None:
        endpoint = self._config.endpoints.get("record_absence")
        if endpoint is None:
            raise BackendUnsupported("this QLHS mapping has no record_absence endpoint")
        values = {
            "student_id": student_id,
            "day": day.isoformat(),
            "session": session,
            "excused": "true" if excused else "false",
            "reason": reason[:300],
        }
        path = endpoint.path.format(**{k: quote(v, safe="") for k, v in values.items()})
        payload: dict[str, Any] = {}
        for key, template in endpoint.body.items():
            text = template.format(**values)
            payload[key] = {"true": True, "false": False}.get(text, text)
        await self.http.post(path, endpoint="record_absence", payload=payload or values)


class _Fields:
    """Typed access to one record's mapped fields."""

    def __init__(self, backend: RestJsonBackend, endpoint: str, record: dict[str, Any]) -> None:
        self._backend = backend
        self._endpoint = endpoint
        self._record = record

    def raw(self, field: str) -> Any:
        return self._backend._field(self._endpoint, self._record, field)

    def text(self, field: str) -> str:
        value = self.raw(field)
        if value is None or isinstance(value, list | dict) or str(value).strip() == "":
            raise ValueError(f"field {field} is missing")
        return str(value).strip()

    def opt_text(self, field: str) -> str:
        value = self.raw(field)
        return "" if value is None or isinstance(value, list | dict) else str(value).strip()

    def integer(self, field: str) -> int:
        value = self.raw(field)
        if value is None or isinstance(value, bool):
            raise ValueError(f"field {field} is not a number")
        return int(Decimal(str(value)))

    def opt_int(self, field: str) -> int | None:
        return None if self.raw(field) in (None, "") else self.integer(field)

    def opt_decimal(self, field: str) -> Decimal | None:
        value = self.raw(field)
        return None if value in (None, "") else _decimal(value)

    def opt_date(self, field: str) -> dt.date | None:
        value = self.raw(field)
        return None if value in (None, "") else _date(value)

    def opt_datetime(self, field: str) -> dt.datetime | None:
        value = self.raw(field)
        if value in (None, ""):
            return None
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)

    def seq(self, field: str) -> list[Any]:
        value = self.raw(field)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError(f"field {field} is not a list")
        return value


def _fold_code(code: str) -> str:
    return re.sub(r"\s+", "", code).upper()


def _phone(raw: str) -> str:
    return normalize_phone(raw) or raw.strip()


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a score is not a yes/no")
    return Decimal(str(value).strip().replace(",", "."))


_TRUE = {"true", "1", "yes", "y", "co", "dat", "d", "x", "paid", "da nop"}
_FALSE = {"false", "0", "no", "n", "khong", "chua dat", "cd", "", "unpaid", "chua nop"}


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = fold(str(value)).strip()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a yes/no value: {value!r}")


def _date(value: Any) -> dt.date:
    text = str(value).strip()
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if m:
        return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    return dt.date.fromisoformat(text[:10])


def _aware(value: Any, zone: ZoneInfo) -> dt.datetime:
    """A QLHS time: ISO 8601, ``dd/mm/yyyy hh:mm[:ss]`` (without an offset: in ``zone``), or
    a Unix time in seconds or milliseconds."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        seconds = float(value) / 1000 if value > 10**11 else float(value)
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    if value is None or isinstance(value, list | dict | bool) or not str(value).strip():
        raise ValueError("field occurred_at is missing")
    text = str(value).strip()
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if m:
        d, mo, y, h, mi, sec = m.groups()
        parsed = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec or 0))
    else:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(dt.UTC)


def _format_since(moment: dt.datetime, endpoint: EndpointConfig) -> str:
    """``{since}`` as the QLHS wants it. A format without sub-seconds cuts them, never rounds
    up: the poll starts a little early rather than late (the keys drop what was seen)."""
    fmt = endpoint.since_format
    if fmt == "epoch":
        return str(int(moment.timestamp()))
    if fmt == "epoch_ms":
        return str(int(moment.timestamp() * 1000))
    local = moment.astimezone(ZoneInfo(endpoint.time_zone))
    if fmt == "iso":
        text = local.isoformat()
        return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text
    return local.strftime(fmt)


def _session_or_day(value: str) -> Session | None:
    if value in ("", "day", "ca_ngay"):
        return None
    return Session(value)


def _factory(config: Any, deps: BackendDeps) -> SchoolBackend:
    if deps.http is None:
        raise ValueError("rest_json needs an HTTP client")
    return RestJsonBackend(config, school_id=deps.school_id, client=deps.http, clock=deps.clock)


def _read_config(path: Path) -> RestJsonConfig:
    return load_config(path)


manifest = BackendManifest(
    name="rest_json",
    title="Any HTTP/JSON school system, described by a mapping file",
    capabilities=frozenset(c for _, _, c in ENDPOINTS.values() if c is not None),
    config_help=(
        "LIENLAC_BACKEND__MAPPING points at a TOML mapping: base_url, [auth], and per "
        "question an [endpoints.NAME] with path, items and fields."
    ),
    config_model=RestJsonConfig,
    load_config=_read_config,
    factory=_factory,
    needs_http=True,
)
