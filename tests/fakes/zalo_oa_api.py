"""A loopback fake of Zalo's OA side (reference/zalo.md §2-3): the OAuth token endpoint, the
OA Open API v3 customer-service message, and the ZNS template endpoint, on one server::

    with FakeZaloOa(app_id="1234", app_secret="s3cret", oa_secret="oa-key") as oa:
        env["LIENLAC_ZALO_OA__REFRESH_TOKEN"] = oa.issue_refresh_token()
        env["LIENLAC_ZALO_OA__API_BASE_URL"] = oa.url       # and __OAUTH_BASE_URL, ZNS url
        oa.send_event(webhook_url, oa.text_event("u1", "/start"))   # signed like Zalo
        oa.wait_for("u1", "Xin chào")

* ``POST /v4/oa/access_token`` (header ``secret_key``, form ``refresh_token``, ``app_id``,
  ``grant_type=refresh_token``) -> a new pair, ``expires_in`` as a string. Refresh tokens are
  **single-use**: a reused one is refused (``spent_reuses`` counts them) and so is an unknown
  one. ``hold_refresh(seconds)`` slows the endpoint (races).
* ``POST /v3.0/oa/message/cs`` (header ``access_token``) -> ``-216`` for an unknown or
  superseded token, ``-230`` for a user marked :meth:`outside_window`, else recorded.
* ``POST /message/template`` (ZNS) -> ``-124`` bad token, ``-108`` phone not ``84…``,
  :meth:`fail_zns` injects an error code or a hang; else recorded (the code is in
  ``template_data``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.telegram_api import LoopbackServer


def sign(raw: bytes, *, first: str, timestamp: str, key: str) -> str:
    return hashlib.sha256(first.encode() + raw + timestamp.encode() + key.encode()).hexdigest()


class FakeZaloOa(LoopbackServer):
    def __init__(self, *, app_id: str, app_secret: str, oa_secret: str) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.oa_secret = oa_secret
        self._cond = threading.Condition()
        self._refresh_valid: set[str] = set()
        self._refresh_spent: set[str] = set()
        self._access_valid: set[str] = set()
        self.refreshes = 0
        self.spent_reuses = 0
        self.refused_refreshes = 0
        self.hold_refresh_seconds = 0.0
        self.cs_sent: list[dict[str, Any]] = []  # {"user_id", "text"}
        self.uploads: dict[str, bytes] = {}  # attachment_id -> the PNG uploaded
        self.cs_images: list[dict[str, Any]] = []  # {"user_id", "png"}: media messages
        self.cs_files: list[dict[str, Any]] = []  # {"user_id", "data"}: file messages
        self.file_uploads: dict[str, bytes] = {}  # token -> the file uploaded
        self.cdn: dict[str, bytes] = {}  # what users sent, as Zalo's CDN serves it
        self.cs_refused: list[tuple[str, int]] = []
        self.zns_sent: list[dict[str, Any]] = []
        self._outside: set[str] = set()
        self._zns_failures: list[tuple[int, float]] = []  # (error code, hang seconds)
        self.expires_in = "90000"
        self.issued: list[str] = []  # every access and refresh token handed out
        super().__init__(
            Starlette(
                routes=[
                    Route("/v4/oa/access_token", self._token, methods=["POST"]),
                    Route("/v3.0/oa/message/cs", self._cs, methods=["POST"]),
                    Route("/v2.0/oa/upload/image", self._upload, methods=["POST"]),
                    Route("/v2.0/oa/upload/file", self._upload_file, methods=["POST"]),
                    Route("/cdn/{name}", self._cdn, methods=["GET"]),
                    Route("/message/template", self._zns, methods=["POST"]),
                ]
            ),
            name="fake-zalo-oa",
        )

    # -- driving it --------------------------------------------------------------------

    def issue_refresh_token(self) -> str:
        token = "rt-" + secrets.token_urlsafe(24)
        with self._cond:
            self._refresh_valid.add(token)
            self.issued.append(token)
        return token

    def cdn_url(self, data: bytes, name: str = "file.pdf") -> str:
        """Where Zalo's CDN serves a file a user sent (here on this fake)."""
        key = f"{secrets.token_hex(6)}-{name}"
        with self._cond:
            self.cdn[key] = data
        return f"{self.url}/cdn/{key}"

    def outside_window(self, user_id: str, outside: bool = True) -> None:
        with self._cond:
            (self._outside.add if outside else self._outside.discard)(user_id)

    def fail_zns(self, error: int = -118, *, hang: float = 0.0, count: int = 1) -> None:
        with self._cond:
            self._zns_failures.extend([(error, hang)] * count)

    def text_event(self, user_id: str, text: str, *, msg_id: str = "") -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "sender": {"id": user_id},
            "recipient": {"id": "oa-1"},
            "user_id_by_app": "app-" + user_id,
            "event_name": "user_send_text",
            "message": {"text": text, "msg_id": msg_id or secrets.token_hex(16)},
            "timestamp": str(int(time.time() * 1000)),
        }

    def file_event(
        self,
        user_id: str,
        kind: str = "image",
        *,
        text: str = "",
        name: str = "giay.pdf",
        size: int = 120_000,
        file_type: str = "pdf",
    ) -> dict[str, Any]:
        """``user_send_image`` or (``kind="file"``) ``user_send_file``: the attachment's
        public URL on Zalo's CDN (here a made-up one) in ``message.attachments``."""
        payload: dict[str, Any] = {"url": f"https://zalo-cdn.example/{secrets.token_hex(8)}"}
        if kind == "file":
            payload |= {"name": name, "size": str(size), "type": file_type}
        message: dict[str, Any] = {
            "msg_id": secrets.token_hex(16),
            "attachments": [{"type": kind, "payload": payload}],
        }
        if text:
            message["text"] = text
        event = self.text_event(user_id, "")
        event |= {"event_name": f"user_send_{kind}", "message": message}
        return event

    def follow_event(self, user_id: str, name: str = "follow") -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "oa_id": "oa-1",
            "event_name": name,
            "follower": {"id": user_id},
            "source": "oa_profile",
            "timestamp": str(int(time.time() * 1000)),
        }

    def send_event(
        self,
        url: str,
        event: dict[str, Any],
        *,
        signature: str | None = None,
        key: str | None = None,
    ) -> int:
        """POST ``event`` to the bot's webhook, signed like Zalo (``signature`` overrides;
        ``""`` sends no header). The HTTP status."""
        raw = json.dumps(event, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if signature is None:
            mac = sign(
                raw,
                first=self.app_id,
                timestamp=str(event.get("timestamp", "")),
                key=self.oa_secret if key is None else key,
            )
            headers["X-ZEvent-Signature"] = f"mac={mac}"
        elif signature:
            headers["X-ZEvent-Signature"] = signature
        return httpx.post(url, content=raw, headers=headers, timeout=5.0).status_code

    def cs_to(self, user_id: str) -> list[str]:
        with self._cond:
            return [m["text"] for m in self.cs_sent if m["user_id"] == user_id]

    def wait_until(self, condition: Any, timeout: float = 10.0, *, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
                self._cond.wait(min(remaining, 0.05))

    def wait_for(self, user_id: str, needle: str, timeout: float = 10.0, *, after: int = 0) -> str:
        try:
            self.wait_until(
                lambda: any(needle in t for t in self.cs_to(user_id)[after:]),
                timeout,
                what=f"{needle!r} to {user_id}",
            )
        except TimeoutError:
            raise AssertionError(
                f"{needle!r} not sent to {user_id}; sent: {self.cs_to(user_id)[after:]}"
            ) from None
        return next(t for t in self.cs_to(user_id)[after:] if needle in t)

    def wait_for_zns(self, phone: str, *, after: int = 0, timeout: float = 10.0) -> str:
        """The OTP of the first ZNS to ``phone`` (``84…``) from index ``after`` on."""

        def found() -> bool:
            return any(m["phone"] == phone for m in self.zns_sent[after:])

        self.wait_until(found, timeout, what=f"a ZNS to {phone}")
        with self._cond:
            message = next(m for m in self.zns_sent[after:] if m["phone"] == phone)
        return str(message["template_data"]["otp"])

    # -- serving -----------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if (
            request.headers.get("secret_key") != self.app_secret
            or form.get("app_id") != self.app_id
        ):
            return JSONResponse({"error": -14002, "error_description": "Invalid app secret"})
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": -14003, "error_description": "Invalid grant type"})
        token = str(form.get("refresh_token", ""))
        if self.hold_refresh_seconds:
            await asyncio.sleep(self.hold_refresh_seconds)
        with self._cond:
            if token in self._refresh_spent:
                self.spent_reuses += 1
                self.refused_refreshes += 1
                # Reusing a rotated refresh token: refused like the real API.
                return JSONResponse({"error": -14014, "error_description": "Invalid refresh token"})
            if token not in self._refresh_valid:
                self.refused_refreshes += 1
                return JSONResponse({"error": -14014, "error_description": "Invalid refresh token"})
            self._refresh_valid.discard(token)
            self._refresh_spent.add(token)
            access = "at-" + secrets.token_urlsafe(24)
            new_refresh = "rt-" + secrets.token_urlsafe(24)
            self._access_valid = {access}  # the previous access token stops working
            self._refresh_valid.add(new_refresh)
            self.refreshes += 1
            self.issued += [access, new_refresh]
            self._cond.notify_all()
        return JSONResponse(
            {"access_token": access, "refresh_token": new_refresh, "expires_in": self.expires_in}
        )

    def valid_refresh_tokens(self) -> set[str]:
        with self._cond:
            return set(self._refresh_valid)

    async def _upload(self, request: Request) -> Response:
        """``POST /v2.0/oa/upload/image``: multipart ``file``, PNG or JPG up to 1 MB."""
        token = request.headers.get("access_token", "")
        data = _multipart_file(request.headers.get("content-type", ""), await request.body())
        with self._cond:
            if token not in self._access_valid:
                return JSONResponse({"error": -216, "message": "Access token is invalid"})
            if data is None or not data.startswith(b"\x89PNG") or len(data) > 1_000_000:
                return JSONResponse({"error": -201, "message": "Parameters are invalid"})
            attachment_id = secrets.token_hex(16)
            self.uploads[attachment_id] = data
        return JSONResponse(
            {"error": 0, "message": "Success", "data": {"attachment_id": attachment_id}}
        )

    async def _cdn(self, request: Request) -> Response:
        with self._cond:
            data = self.cdn.get(request.path_params["name"])
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="application/octet-stream")

    async def _upload_file(self, request: Request) -> Response:
        """``POST /v2.0/oa/upload/file``: multipart ``file``, PDF or Word up to 5 MB; answers
        ``data.token``."""
        token = request.headers.get("access_token", "")
        data = _multipart_file(request.headers.get("content-type", ""), await request.body())
        with self._cond:
            if token not in self._access_valid:
                return JSONResponse({"error": -216, "message": "Access token is invalid"})
            if data is None or not data.startswith(b"%PDF") or len(data) > 5 * 1024 * 1024:
                return JSONResponse({"error": -201, "message": "Parameters are invalid"})
            file_token = secrets.token_hex(16)
            self.file_uploads[file_token] = data
        return JSONResponse({"error": 0, "message": "Success", "data": {"token": file_token}})

    def _cs_file(self, token: str, user_id: str, attachment: Any) -> Response:
        """A CS message whose attachment is an uploaded file (``type: file``)."""
        payload = attachment.get("payload", {}) if isinstance(attachment, dict) else {}
        with self._cond:
            if token not in self._access_valid:
                self.cs_refused.append((user_id, -216))
                return JSONResponse({"error": -216, "message": "Access token is invalid"})
            file_token = payload.get("token") if isinstance(payload, dict) else None
            if file_token not in self.file_uploads:
                self.cs_refused.append((user_id, -201))
                return JSONResponse({"error": -201, "message": "Parameters are invalid"})
            if user_id in self._outside:
                self.cs_refused.append((user_id, -230))
                return JSONResponse({"error": -230, "message": "No interaction in 7 days"})
            self.cs_files.append({"user_id": user_id, "data": self.file_uploads[file_token]})
            self._cond.notify_all()
        return JSONResponse(
            {"error": 0, "message": "Success", "data": {"message_id": secrets.token_hex(16)}}
        )

    async def _cs(self, request: Request) -> Response:
        token = request.headers.get("access_token", "")
        body = json.loads(await request.body())
        user_id = str(body.get("recipient", {}).get("user_id", ""))
        message = body.get("message", {})
        text = message.get("text", "")
        attachment = message.get("attachment")
        if isinstance(attachment, dict) and attachment.get("type") == "file":
            return self._cs_file(token, user_id, attachment)
        if "attachment" in message and "text" not in message:
            return await self._cs_media(token, user_id, message["attachment"])
        with self._cond:
            if token not in self._access_valid:
                self.cs_refused.append((user_id, -216))
                return JSONResponse({"error": -216, "message": "Access token is invalid"})
            if not isinstance(text, str) or not 1 <= len(text) <= 2000:
                self.cs_refused.append((user_id, -201))
                return JSONResponse({"error": -201, "message": "Parameters are invalid"})
            if user_id in self._outside:
                self.cs_refused.append((user_id, -230))
                return JSONResponse(
                    {"error": -230, "message": "User has not interacted with the OA in 7 days"}
                )
            self.cs_sent.append({"user_id": user_id, "text": text})
            self._cond.notify_all()
        return JSONResponse(
            {
                "error": 0,
                "message": "Success",
                "data": {"message_id": secrets.token_hex(16), "user_id": user_id},
            }
        )

    async def _cs_media(self, token: str, user_id: str, attachment: Any) -> Response:
        """A CS message with a ``media`` template naming an uploaded image, or an image by its
        ``url`` (fetched, like Zalo does)."""
        payload = attachment.get("payload", {}) if isinstance(attachment, dict) else {}
        elements = payload.get("elements") if isinstance(payload, dict) else None
        element = elements[0] if isinstance(elements, list) and len(elements) == 1 else {}
        url = element.get("url") if isinstance(element, dict) else None
        if isinstance(url, str) and element.get("media_type") == "image":
            async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
                try:
                    fetched = await client.get(url)
                except httpx.HTTPError:
                    fetched = None
            if fetched is None or fetched.status_code != 200:
                with self._cond:
                    self.cs_refused.append((user_id, -201))
                return JSONResponse({"error": -201, "message": "Cannot fetch the image"})
            attachment_id = secrets.token_hex(16)
            with self._cond:
                self.uploads[attachment_id] = fetched.content
            element = {"media_type": "image", "attachment_id": attachment_id}
            elements = [element]
        with self._cond:
            if token not in self._access_valid:
                self.cs_refused.append((user_id, -216))
                return JSONResponse({"error": -216, "message": "Access token is invalid"})
            if (
                attachment.get("type") != "template"
                or payload.get("template_type") != "media"
                or not isinstance(elements, list)
                or len(elements) != 1
                or elements[0].get("media_type") != "image"
                or elements[0].get("attachment_id") not in self.uploads
            ):
                self.cs_refused.append((user_id, -201))
                return JSONResponse({"error": -201, "message": "Parameters are invalid"})
            if user_id in self._outside:
                self.cs_refused.append((user_id, -230))
                return JSONResponse({"error": -230, "message": "No interaction in 7 days"})
            png = self.uploads[elements[0]["attachment_id"]]
            self.cs_images.append({"user_id": user_id, "png": png})
            self._cond.notify_all()
        return JSONResponse(
            {"error": 0, "message": "Success", "data": {"message_id": secrets.token_hex(16)}}
        )

    def images_to(self, user_id: str) -> list[bytes]:
        with self._cond:
            return [m["png"] for m in self.cs_images if m["user_id"] == user_id]

    async def _zns(self, request: Request) -> Response:
        token = request.headers.get("access_token", "")
        body = json.loads(await request.body())
        with self._cond:
            failure = self._zns_failures.pop(0) if self._zns_failures else None
        if failure is not None:
            if failure[1]:
                await asyncio.sleep(failure[1])
            return JSONResponse({"error": failure[0], "message": "injected failure"})
        with self._cond:
            if token not in self._access_valid:
                return JSONResponse({"error": -124, "message": "Access token is invalid"})
            if not re.fullmatch(r"84\d{9}", str(body.get("phone", ""))):
                return JSONResponse({"error": -108, "message": "Phone number is invalid"})
            self.zns_sent.append(body)
            self._cond.notify_all()
        return JSONResponse(
            {
                "error": 0,
                "message": "Success",
                "data": {
                    "msg_id": secrets.token_hex(16),
                    "sent_time": str(int(time.time() * 1000)),
                },
            }
        )


def _multipart_file(content_type: str, body: bytes) -> bytes | None:
    """The ``file`` part of a multipart/form-data body (the fake has no multipart library)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    if not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None
