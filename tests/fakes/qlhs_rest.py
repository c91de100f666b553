"""A loopback fake of a REST/JSON school system (QLHS), replaying recorded answers.

The answers are ``tests/fixtures/qlhs_rest/demo_school.json`` (the demo school in the
QLHS's own shape). Requests need ``Authorization: Bearer <token>``: the static test token, or
one issued by ``POST /oauth/token`` (client credentials, HTTP basic auth)::

    with FakeQlhs() as qlhs:
        config = qlhs.mapping()             # tests/fixtures/qlhs_rest/mapping.toml, pointed here
        qlhs.faults.fail(500, count=3)      # see tests/fakes/faults.py
        qlhs.expire_tokens()                # every issued OAuth token is now refused
        qlhs.hits("/api/v1/hoc-sinh/st-6a-01")  # how many requests reached a path
        qlhs.score_changed("st-8a-03", "toan", "gk", 9.5, at=now)  # served by /thay-doi

``GET /api/v1/thay-doi?tu=<dd/mm/yyyy hh:mm:ss, Hà Nội time>&trang=<n>`` answers the change
log (``qlhs.changes``, in the QLHS's shape) after ``tu``, ``changes_page_size`` records a
page, with ``trang_sau`` naming the next page's path (``null`` on the last one).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import threading
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.faults import Faults
from tests.fakes.telegram_api import LoopbackServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qlhs_rest"
STATIC_TOKEN = "qlhs-test-token"
CLIENT_ID = "lienlac"
CLIENT_SECRET = "s3cret-client"
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
QLHS_TIME = "%d/%m/%Y %H:%M:%S"  # the QLHS's own time format, Hà Nội wall clock


class FakeQlhs(LoopbackServer):
    def __init__(self) -> None:
        self.recordings: dict[str, Any] = json.loads(
            (FIXTURES / "demo_school.json").read_text(encoding="utf-8")
        )
        self.faults = Faults()
        self._lock = threading.Lock()
        self._hits: Counter[str] = Counter()
        self._tokens: set[str] = set()
        self.tokens_issued = 0
        self.absences: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.changes: list[dict[str, Any]] = []  # the change log, oldest first
        self.changes_page_size = 2
        self.change_queries: list[str] = []  # the ``tu`` of every change poll
        super().__init__(
            Starlette(
                routes=[
                    Route("/oauth/token", self._token, methods=["POST"]),
                    Route("/api/v1/{rest:path}", self._api, methods=["GET", "POST"]),
                ]
            ),
            name="fake-qlhs",
        )

    def mapping(self, **overrides: Any) -> dict[str, Any]:
        """The test mapping as a dict, pointed at this server."""
        with (FIXTURES / "mapping.toml").open("rb") as fh:
            raw = tomllib.load(fh)
        raw["base_url"] = f"{self.url}/api/v1"
        raw.update(overrides)
        return raw

    def mapping_file(self, directory: Path, **overrides: Any) -> Path:
        """The test mapping written as TOML (for the real process and check-config)."""
        text = (FIXTURES / "mapping.toml").read_text(encoding="utf-8")
        text = text.replace("http://127.0.0.1:9/api/v1", f"{self.url}/api/v1")
        for key, value in overrides.items():  # top-level keys only
            line = f"{key} = {json.dumps(value)}"
            text, found = re.subn(rf"(?m)^{re.escape(key)} = .*$", line, text, count=1)
            if not found:
                text = line + "\n" + text
        path = directory / "qlhs-mapping.toml"
        path.write_text(text, encoding="utf-8")
        return path

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits[path]

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def score_changed(
        self,
        student_id: str,
        subject: tuple[str, str],
        kind: str,
        value: float | None,
        *,
        at: dt.datetime,
        passed: bool | None = None,
        version: int = 1,
    ) -> None:
        """A teacher entered or corrected a mark (``subject`` = code, name)."""
        self._log_change(
            {
                "loai": "diem",
                "ma": f"d-{student_id}-{subject[0]}-{kind}",
                "phien_ban": version,
                "hoc_sinh_id": student_id,
                "mon": {"ma": subject[0], "ten": subject[1]},
                "loai_diem": kind,
                "hoc_ky": "HK1",
                "diem": value,
                "dat": None if passed is None else ("Đ" if passed else "CĐ"),
            },
            at,
        )

    def absence_recorded(
        self, student_id: str, day: dt.date, session: str, *, excused: bool, at: dt.datetime
    ) -> None:
        self._log_change(
            {
                "loai": "chuyen_can",
                "ma": f"cc-{student_id}-{day.isoformat()}-{session}",
                "hoc_sinh_id": student_id,
                "ngay": day.strftime("%d/%m/%Y"),
                "buoi": session,  # ca_ngay | sang | chieu
                "co_phep": excused,
            },
            at,
        )

    def fee_changed(
        self,
        student_id: str,
        fee_id: str,
        name: str,
        amount: int,
        *,
        due: dt.date | None,
        paid: bool,
        at: dt.datetime,
    ) -> None:
        self._log_change(
            {
                "loai": "khoan_thu",
                "ma": fee_id,
                "hoc_sinh_id": student_id,
                "ten_khoan": name,
                "so_tien": amount,
                "han_nop": due.strftime("%d/%m/%Y") if due else None,
                "da_nop": paid,
            },
            at,
        )

    def _log_change(self, record: dict[str, Any], at: dt.datetime) -> None:
        record["thoi_diem"] = at.astimezone(HANOI).strftime(QLHS_TIME)
        with self._lock:
            self.changes.append(record)

    def _changes(self, request: Request) -> Response:
        try:
            since = dt.datetime.strptime(request.query_params["tu"], QLHS_TIME)
            page = int(request.query_params.get("trang", "1"))
        except (KeyError, ValueError):
            return JSONResponse({"error": "tu (dd/mm/yyyy hh:mm:ss) is required"}, status_code=400)
        with self._lock:
            self.change_queries.append(request.query_params["tu"])
            after = [
                r for r in self.changes if dt.datetime.strptime(r["thoi_diem"], QLHS_TIME) > since
            ]
        size = self.changes_page_size
        chunk = after[(page - 1) * size : page * size]
        more = page * size < len(after)
        query = urlencode({"tu": request.query_params["tu"], "trang": page + 1})
        return JSONResponse(
            {"data": chunk, "trang_sau": f"/api/v1/thay-doi?{query}" if more else None}
        )

    async def _token(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = parse_qs((await request.body()).decode())
        if header != f"Basic {expected}" or form.get("grant_type") != ["client_credentials"]:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._tokens.add(token)
            self.tokens_issued += 1
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": 3600})

    async def _api(self, request: Request) -> Response:
        path = request.url.path
        with self._lock:
            self._hits[path] += 1
            tokens = set(self._tokens)
        injected = await self.faults.apply()
        if injected is not None:
            return injected
        auth = request.headers.get("authorization", "")
        if auth not in {f"Bearer {STATIC_TOKEN}"} | {f"Bearer {t}" for t in tokens}:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if request.method == "POST":
            return await self._record_absence(request)
        if path == "/api/v1/thay-doi":
            return self._changes(request)
        key = path
        if request.url.query:
            params = dict(request.query_params)
            if "ma_hs" in params:  # the QLHS searches codes without regard to case or spaces
                params["ma_hs"] = "".join(params["ma_hs"].split()).upper()
            key += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        if key.startswith("/api/v1/hoc-sinh?ma_hs=") and key not in self.recordings:
            return JSONResponse({"data": {"items": []}, "total": 0})
        body = self.recordings.get(key)
        if body is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(body)

    async def _record_absence(self, request: Request) -> Response:
        parts = request.url.path.strip("/").split("/")
        if len(parts) != 5 or parts[4] != "nghi-hoc":
            return JSONResponse({"error": "not found"}, status_code=404)
        body = json.loads(await request.body())
        with self._lock:
            self.absences[(parts[3], body["ngay"], body["buoi"])] = body
        return JSONResponse({"ok": True}, status_code=201)
