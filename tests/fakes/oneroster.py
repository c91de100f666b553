"""A loopback fake OneRoster 1.2 provider (rostering + gradebook) holding the demo school.

* ``POST /oauth/token``: client credentials (HTTP basic auth); tokens live ``token_ttl`` s.
* ``GET /ims/oneroster/rostering/v1p2/{orgs,academicSessions,classes,users,enrollments,
  demographics}`` and ``/ims/oneroster/gradebook/v1p2/{categories,lineItems,results}``, paged
  with ``limit``/``offset`` (at most ``max_page`` per page), ``X-Total-Count`` and a
  ``Link: <…>; rel="next"`` header (``link_headers=False`` leaves it out); ``results`` honours
  ``filter=student.sourcedId='…'`` and every collection ``filter=dateLastModified>'…'``.
* ``score_changed(student, subject, item, score, at=…)`` enters or corrects a mark (a new
  ``dateLastModified``), as a teacher would in the gradebook.
* Faults as in ``tests/fakes/faults.py``; ``expire_tokens()`` makes every issued token invalid.

The data is built from ``bot.backends.demo_data`` the way ``bot/backends/oneroster.py``
documents the mapping (homeroom + scheduled classes, categories TX/GK/CK/NX, agents).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
import threading
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.backends.demo_data import build_demo_school, required_regular_for
from bot.domain.models import GradingForm
from tests.fakes.faults import Faults
from tests.fakes.telegram_api import LoopbackServer

CLIENT_ID = "lienlac-or"
CLIENT_SECRET = "or-secret"
BASE = "/ims/oneroster"
HK1, HK2 = "as-hk1", "as-hk2"


def _split(full_name: str) -> dict[str, str]:
    parts = full_name.split()
    if len(parts) == 1:
        return {"givenName": parts[0], "familyName": ""}
    out = {"familyName": parts[0], "givenName": parts[-1]}
    if len(parts) > 2:
        out["middleName"] = " ".join(parts[1:-1])
    return out


def demo_collections() -> dict[str, list[dict[str, Any]]]:
    d = build_demo_school()
    school = {"sourcedId": "org-demo", "type": "org"}
    stamp = "2026-11-20T02:30:00Z"
    orgs = [
        {
            "sourcedId": "org-doet",
            "status": "active",
            "name": "Sở GD&ĐT (demo)",
            "type": "district",
        },
        {"sourcedId": "org-demo", "status": "active", "name": d.info.name, "type": "school"},
    ]
    sessions = [
        {
            "sourcedId": "as-2026",
            "title": d.info.school_year,
            "type": "schoolYear",
            "startDate": "2026-09-05",
            "endDate": "2027-05-31",
            "schoolYear": "2027",
        },
        {
            "sourcedId": HK1,
            "title": "Học kỳ I",
            "type": "semester",
            "startDate": "2026-09-05",
            "endDate": "2027-01-15",
            "schoolYear": "2027",
        },
        {
            "sourcedId": HK2,
            "title": "Học kỳ II",
            "type": "semester",
            "startDate": "2027-01-16",
            "endDate": "2027-05-31",
            "schoolYear": "2027",
        },
    ]
    classes: list[dict[str, Any]] = []
    enrollments: list[dict[str, Any]] = []
    line_items: list[dict[str, Any]] = []
    grade_of = {c.id: c.grade for c in d.classes}
    for c in d.classes:
        classes.append(
            {
                "sourcedId": c.id,
                "status": "active",
                "title": c.name,
                "classCode": c.name,
                "classType": "homeroom",
                "grades": [f"{c.grade:02d}"],
                "school": school,
                "terms": [{"sourcedId": "as-2026"}],
            }
        )
        if c.homeroom_teacher_id:
            enrollments.append(
                {
                    "sourcedId": f"e-{c.id}-{c.homeroom_teacher_id}",
                    "status": "active",
                    "user": {"sourcedId": c.homeroom_teacher_id},
                    "class": {"sourcedId": c.id},
                    "school": school,
                    "role": "teacher",
                    "primary": True,
                }
            )
        for subj in d.subjects:
            cid = f"{c.id}-{subj.code}"
            classes.append(
                {
                    "sourcedId": cid,
                    "status": "active",
                    "title": f"{subj.name} {c.name}",
                    "classCode": c.name,
                    "classType": "scheduled",
                    "grades": [f"{c.grade:02d}"],
                    "subjects": [subj.name],
                    "subjectCodes": [subj.code],
                    "school": school,
                    "terms": [{"sourcedId": HK1}, {"sourcedId": HK2}],
                }
            )
            n = required_regular_for(subj, grade_of[c.id])
            kinds = (
                [("nx", i) for i in range(1, n + 1)]
                if subj.form is GradingForm.COMMENT
                else [*(("tx", i) for i in range(1, n + 1)), ("gk", 1), ("ck", 1)]
            )
            for day, (kind, i) in enumerate(kinds, start=1):
                line_items.append(
                    {
                        "sourcedId": f"{cid}-hk1-{kind}{i}",
                        "status": "active",
                        "title": f"{kind.upper()}{i}",
                        "class": {"sourcedId": cid},
                        "category": {"sourcedId": f"cat-{kind}"},
                        "gradingPeriod": {"sourcedId": HK1},
                        "assignDate": f"2026-10-{day:02d}",
                        "resultValueMin": 0,
                        "resultValueMax": 10,
                    }
                )
    for t in d.teaching:
        enrollments.append(
            {
                "sourcedId": f"e-{t.class_id}-{t.subject_code}-{t.teacher_id}",
                "status": "active",
                "user": {"sourcedId": t.teacher_id},
                "class": {"sourcedId": f"{t.class_id}-{t.subject_code}"},
                "school": school,
                "role": "teacher",
                "primary": True,
            }
        )
    users: list[dict[str, Any]] = []
    demographics: list[dict[str, Any]] = []
    agents: dict[str, list[str]] = {}
    for link in d.guardian_links:
        agents.setdefault(link.student_id, []).append(link.guardian_id)
    for s in d.students:
        users.append(
            {
                "sourcedId": s.id,
                "status": "active",
                "enabledUser": True,
                "username": s.code.lower(),
                "identifier": s.code,
                **_split(s.full_name),
                "roles": [{"roleType": "primary", "role": "student", "org": school}],
                "agents": [{"sourcedId": g, "type": "user"} for g in agents.get(s.id, [])],
                "grades": [f"{grade_of[s.class_id]:02d}"],
            }
        )
        if s.birth_date:
            demographics.append(
                {"sourcedId": s.id, "status": "active", "birthDate": s.birth_date.isoformat()}
            )
        enrollments.append(
            {
                "sourcedId": f"e-{s.class_id}-{s.id}",
                "status": "active",
                "user": {"sourcedId": s.id},
                "class": {"sourcedId": s.class_id},
                "school": school,
                "role": "student",
            }
        )
        for subj in d.subjects:
            enrollments.append(
                {
                    "sourcedId": f"e-{s.class_id}-{subj.code}-{s.id}",
                    "status": "active",
                    "user": {"sourcedId": s.id},
                    "class": {"sourcedId": f"{s.class_id}-{subj.code}"},
                    "school": school,
                    "role": "student",
                }
            )
    for g in d.guardians:
        role = "parent" if g.relation in ("Mẹ", "Bố") else "guardian"
        users.append(
            {
                "sourcedId": g.id,
                "status": "active",
                "enabledUser": True,
                **_split(g.name),
                "roles": [{"roleType": "primary", "role": role, "org": school}],
                "phone": f"+84 {g.phone[1:4]} {g.phone[4:7]} {g.phone[7:]}",
                "metadata": {"relation": g.relation},
            }
        )
    for t in d.teachers:
        users.append(
            {
                "sourcedId": t.id,
                "status": "active",
                "enabledUser": True,
                "identifier": t.code,
                **_split(t.full_name),
                "phone": t.phone,
                "roles": [{"roleType": "primary", "role": "teacher", "org": school}],
            }
        )
    results: list[dict[str, Any]] = []
    for sid, sc in d.scores:
        student = next(s for s in d.students if s.id == sid)
        cid = f"{student.class_id}-{sc.subject_code}"
        marks: list[tuple[str, dict[str, Any]]] = []
        for i, x in enumerate(sc.regular, start=1):
            marks.append((f"tx{i}", {"score": float(x)}))
        if sc.midterm is not None:
            marks.append(("gk1", {"score": float(sc.midterm)}))
        if sc.final is not None:
            marks.append(("ck1", {"score": float(sc.final)}))
        for i, ok in enumerate(sc.comment_results, start=1):
            marks.append((f"nx{i}", {"textScore": "Đ" if ok else "CĐ"}))
        for item, value in marks:
            results.append(
                {
                    "sourcedId": f"r-{sid}-{cid}-{item}",
                    "status": "active",
                    "dateLastModified": stamp,
                    "lineItem": {"sourcedId": f"{cid}-hk1-{item}"},
                    "student": {"sourcedId": sid},
                    "scoreStatus": "fully graded",
                    "scoreDate": "2026-11-20",
                    **value,
                }
            )
    categories = [
        {"sourcedId": "cat-tx", "status": "active", "title": "Thường xuyên"},
        {"sourcedId": "cat-gk", "status": "active", "title": "Giữa kỳ"},
        {"sourcedId": "cat-ck", "status": "active", "title": "Cuối kỳ"},
        {"sourcedId": "cat-nx", "status": "active", "title": "Nhận xét"},
    ]
    return {
        "orgs": orgs,
        "academicSessions": sessions,
        "classes": classes,
        "users": users,
        "enrollments": enrollments,
        "demographics": demographics,
        "categories": categories,
        "lineItems": line_items,
        "results": results,
    }


class FakeOneRoster(LoopbackServer):
    def __init__(self, *, max_page: int = 50, link_headers: bool = True) -> None:
        self.data = demo_collections()
        self.max_page = max_page
        self.max_page_of: dict[str, int] = {}  # a smaller page for one collection
        self.link_headers = link_headers
        self.faults = Faults()
        self._lock = threading.Lock()
        self._tokens: set[str] = set()
        self.tokens_issued = 0
        self.pages: Counter[str] = Counter()  # collection -> pages served
        self.requests = 0  # collection requests that arrived, answered or not
        super().__init__(
            Starlette(
                routes=[
                    Route("/oauth/token", self._token, methods=["POST"]),
                    Route(BASE + "/{api}/v1p2/{collection}", self._collection, methods=["GET"]),
                ]
            ),
            name="fake-oneroster",
        )

    def config(self, **overrides: Any) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "base_url": f"{self.url}{BASE}",
            "token_url": f"{self.url}/oauth/token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "terms": {"1": HK1, "2": HK2},
            "page_size": 100,
            "timeout_seconds": 2,
            "retries": 1,
            "backoff_seconds": 0.01,
            "check_student_code": "HS6A01",
        }
        raw.update(overrides)
        return raw

    def score_changed(
        self,
        student_id: str,
        subject_code: str,
        item: str,
        score: float | None = None,
        *,
        at: dt.datetime,
        text_score: str | None = None,
    ) -> None:
        """The mark of one line item (``tx1``, ``gk1``, ``ck1``, ``nx1``…) is entered or
        corrected at ``at``."""
        homeroom = {st.id: st.class_id for st in build_demo_school().students}[student_id]
        cid = f"{homeroom}-{subject_code}"
        rid = f"r-{student_id}-{cid}-{item}"
        stamp = at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        value = {"score": score} if text_score is None else {"textScore": text_score}
        with self._lock:
            results = self.data["results"]
            results[:] = [x for x in results if x["sourcedId"] != rid]
            results.append(
                {
                    "sourcedId": rid,
                    "status": "active",
                    "dateLastModified": stamp,
                    "lineItem": {"sourcedId": f"{cid}-hk1-{item}"},
                    "student": {"sourcedId": student_id},
                    "scoreStatus": "fully graded",
                    "scoreDate": at.date().isoformat(),
                    **value,
                }
            )

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    async def _token(self, request: Request) -> Response:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = parse_qs((await request.body()).decode())
        if request.headers.get("authorization") != f"Basic {expected}" or form.get(
            "grant_type"
        ) != ["client_credentials"]:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._tokens.add(token)
            self.tokens_issued += 1
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": 3600})

    async def _collection(self, request: Request) -> Response:
        with self._lock:
            self.requests += 1
        injected = await self.faults.apply()
        if injected is not None:
            return injected
        auth = request.headers.get("authorization", "")
        with self._lock:
            ok = auth.removeprefix("Bearer ") in self._tokens
        if not ok:
            return JSONResponse({"imsx_codeMajor": "failure"}, status_code=401)
        name = request.path_params["collection"]
        with self._lock:
            found = self.data.get(name)
            records = None if found is None else list(found)
        if records is None:
            return JSONResponse({"imsx_codeMajor": "failure"}, status_code=404)
        wanted = request.query_params.get("filter", "")
        if wanted:
            student = re.fullmatch(r"student\.sourcedId='([^']*)'", wanted)
            modified = re.fullmatch(r"dateLastModified>'([^']*)'", wanted)
            if student is not None:
                records = [
                    r for r in records if r.get("student", {}).get("sourcedId") == student[1]
                ]
            elif modified is not None:
                since = _instant(modified[1])
                records = [
                    r
                    for r in records
                    if r.get("dateLastModified") and _instant(r["dateLastModified"]) > since
                ]
            else:
                return JSONResponse({"imsx_codeMajor": "failure"}, status_code=400)
        limit = min(
            int(request.query_params.get("limit", "100")), self.max_page_of.get(name, self.max_page)
        )
        offset = int(request.query_params.get("offset", "0"))
        page = records[offset : offset + limit]
        with self._lock:
            self.pages[name] += 1
        headers = {"X-Total-Count": str(len(records))}
        if self.link_headers and offset + limit < len(records):
            nxt = request.url.include_query_params(limit=limit, offset=offset + limit)
            headers["Link"] = f'<{nxt}>; rel="next"'
        return JSONResponse({name: page}, headers=headers)


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
