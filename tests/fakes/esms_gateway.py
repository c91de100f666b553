"""A loopback fake of the eSMS.vn brandname API (reference/zalo.md §3), for
``LIENLAC_OTP__PROVIDER=sms``::

    with FakeEsms(api_key="k", secret_key="s") as esms:
        env["LIENLAC_OTP__SMS__URL"] = esms.url
        code = esms.wait_for_code("0900000001")
        esms.fail_next("99")            # CodeResult 99 (refused), or fail_next(hang=30)

``POST /MainService.svc/json/SendMultipleMessage_V4_post_json/`` with ``ApiKey``,
``SecretKey``, ``Phone``, ``Content``, ``Brandname``, ``SmsType`` ... -> HTTP 200
``{"CodeResult": "100", "SMSID"}`` when accepted; wrong keys -> ``"101"``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.telegram_api import LoopbackServer

PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


class FakeEsms(LoopbackServer):
    def __init__(self, *, api_key: str, secret_key: str) -> None:
        self.api_key = api_key
        self.secret_key = secret_key
        self._cond = threading.Condition()
        self.sent: list[dict[str, Any]] = []
        self.received = 0
        self._failures: list[tuple[str, float]] = []
        super().__init__(
            Starlette(routes=[Route(PATH, self._send, methods=["POST"])]), name="fake-esms"
        )

    def fail_next(self, code: str = "99", *, hang: float = 0.0, count: int = 1) -> None:
        with self._cond:
            self._failures.extend([(code, hang)] * count)

    def wait_for_code(self, phone: str, *, after: int = 0, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for sms in self.sent[after:]:
                    if sms["Phone"] == phone:
                        found = _CODE.findall(sms["Content"])
                        assert len(found) == 1, sms["Content"]
                        return str(found[0])
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no SMS to {phone} within {timeout} s")
                self._cond.wait(min(remaining, 0.05))

    async def _send(self, request: Request) -> Response:
        body = json.loads(await request.body())
        with self._cond:
            self.received += 1
            failure = self._failures.pop(0) if self._failures else None
            self._cond.notify_all()
        if failure is not None:
            if failure[1]:
                await asyncio.sleep(failure[1])
            return JSONResponse({"CodeResult": failure[0], "ErrorMessage": "injected"})
        if body.get("ApiKey") != self.api_key or body.get("SecretKey") != self.secret_key:
            return JSONResponse({"CodeResult": "101", "ErrorMessage": "Invalid ApiKey"})
        if (
            not body.get("Phone")
            or not body.get("Content")
            or body.get("SmsType") not in {"2", "8"}
        ):
            return JSONResponse({"CodeResult": "104", "ErrorMessage": "Invalid parameters"})
        with self._cond:
            self.sent.append(body)
            self._cond.notify_all()
        return JSONResponse(
            {"CodeResult": "100", "CountRegenerate": 0, "SMSID": secrets.token_hex(8)}
        )
