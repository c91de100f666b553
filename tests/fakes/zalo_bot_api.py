"""A loopback fake of the Zalo Bot Platform API (reference/zalo.md §1), for tests.

``POST /bot<TOKEN>/<method>`` (case-sensitive names), JSON or form bodies, envelope
``{"ok", "result" | "error_code", "description"}``::

    with FakeZaloBotApi(token="123:abc") as api:
        env["LIENLAC_ZALO_BOT__API_BASE_URL"] = api.url
        api.inject_text("6ede9afa66b88fe6d6a9", "/start")   # queued for getUpdates
        api.wait_for(chat, "Xin chào")                      # first sendMessage containing it

Behaviour like the platform: ``sendPhoto`` takes a URL and fetches it (kept in ``photos``);
a wrong token -> 401; an unknown method -> 404; ``sendMessage``
with an empty text or more than 2,000 characters -> 400 (a *violation*); idle ``getUpdates``
-> HTTP 408 "Request timeout" after its ``timeout``; one update per ``getUpdates``;
``getUpdates`` while a webhook is set -> 409 (a rejection, not a violation); ``setWebhook``
needs ``url`` and an 8-256 character ``secret_token``. With a webhook set, :meth:`post_webhook`
sends an update there with the secret header (wrapped ``{ok, result}`` or flat). Fault
injection: :meth:`fail_next`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.telegram_api import LoopbackServer

METHODS = frozenset(
    {
        "getMe",
        "getUpdates",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
        "sendMessage",
        "sendPhoto",
        "sendSticker",
        "sendChatAction",
    }
)
MAX_TEXT = 2000
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    time: float


class FakeZaloBotApi(LoopbackServer):
    def __init__(self, *, token: str) -> None:
        self.token = token
        self._cond = threading.Condition()
        self.calls: list[Call] = []
        self.sent: list[dict[str, Any]] = []  # sendMessage params, in order
        self.photos: list[dict[str, Any]] = []  # sendPhoto: {"chat_id", "url", "png", "caption"}
        self.cdn: dict[str, bytes] = {}  # users' photos, as Zalo's CDN serves them
        self.violations: list[str] = []
        self.rejections: list[str] = []
        self._pending: list[dict[str, Any]] = []
        self._failures: list[tuple[str, int, int]] = []  # method, code, remaining
        self.webhook_url = ""
        self.webhook_secret = ""
        self._stopping = False
        super().__init__(
            Starlette(
                routes=[
                    Route("/bot{token}/{method}", self._handle, methods=["POST", "GET"]),
                    Route("/cdn/{name}", self._cdn, methods=["GET"]),
                ]
            ),
            name="fake-zalo-bot-api",
        )

    def on_stopping(self) -> None:
        self._stopping = True

    # -- driving it --------------------------------------------------------------------

    @staticmethod
    def new_message_id() -> str:
        return secrets.token_hex(10)

    def update(
        self, chat_id: str, text: str, *, event: str = "message.text.received", message_id: str = ""
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "from": {"id": chat_id, "display_name": "Phụ huynh", "is_bot": False},
            "chat": {"id": chat_id, "chat_type": "PRIVATE"},
            "message_id": message_id or self.new_message_id(),
            "date": int(time.time() * 1000),
        }
        if event == "message.text.received":
            message["text"] = text
        return {"event_name": event, "message": message}

    def cdn_url(self, png: bytes) -> str:
        """Where Zalo's CDN serves a photo a user sent (here on this fake)."""
        key = f"{secrets.token_hex(8)}.png"
        with self._cond:
            self.cdn[key] = png
        return f"{self.url}/cdn/{key}"

    def inject_photo(self, chat_id: str, caption: str = "", *, url: str = "") -> dict[str, Any]:
        """A user's photo, as captured payloads carry it: ``photo_url`` (public, may expire)
        and ``message_type: CHAT_PHOTO``, the caption if any."""
        update = self.update(chat_id, "", event="message.image.received")
        update["message"] |= {
            "photo_url": url or f"https://zalo-cdn.example/{secrets.token_hex(8)}.jpg",
            "message_type": "CHAT_PHOTO",
        }
        if caption:
            update["message"]["caption"] = caption
        self.inject(update)
        return update

    def inject_text(self, chat_id: str, text: str, **kw: Any) -> dict[str, Any]:
        update = self.update(chat_id, text, **kw)
        self.inject(update)
        return update

    def inject(self, update: dict[str, Any]) -> None:
        with self._cond:
            self._pending.append(update)
            self._cond.notify_all()

    def post_webhook(
        self, update: dict[str, Any], *, secret: str | None = None, flat: bool = False
    ) -> int:
        """POST ``update`` to the registered webhook (from the calling thread); the status."""
        assert self.webhook_url, "no webhook set"
        body = update if flat else {"ok": True, "result": update}
        headers = {}
        given = self.webhook_secret if secret is None else secret
        if given:
            headers["X-Bot-Api-Secret-Token"] = given
        return httpx.post(self.webhook_url, json=body, headers=headers, timeout=5.0).status_code

    def fail_next(self, method: str, code: int, *, count: int = 1) -> None:
        with self._cond:
            self._failures.append((method, code, count))

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def sent_to(self, chat_id: str) -> list[dict[str, Any]]:
        with self._cond:
            return [p for p in self.sent if p.get("chat_id") == chat_id]

    def wait_until(self, condition: Any, timeout: float = 5.0, *, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
                self._cond.wait(min(remaining, 0.05))

    def wait_for(
        self, chat_id: str, needle: str, timeout: float = 10.0, *, after: int = 0
    ) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            for params in [p for p in self.sent if p.get("chat_id") == chat_id][after:]:
                if needle in str(params.get("text", "")):
                    found.append(params)
                    return True
            return False

        try:
            self.wait_until(seen, timeout, what=f"{needle!r} in chat {chat_id}")
        except TimeoutError:
            texts = [p.get("text") for p in self.sent_to(chat_id)[after:]]
            raise AssertionError(f"{needle!r} not sent to {chat_id}; sent: {texts}") from None
        return found[0]

    # -- serving -----------------------------------------------------------------------

    @staticmethod
    def _answer(result: Any = None, *, ok: bool = True) -> Response:
        body: dict[str, Any] = {"ok": ok}
        if result is not None:
            body["result"] = result
        return JSONResponse(body)

    @staticmethod
    def _error(code: int, description: str) -> Response:
        return JSONResponse(
            {"ok": False, "error_code": code, "description": description}, status_code=code
        )

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        raw = await request.body()
        if not raw:
            return params
        ctype = request.headers.get("content-type", "")
        if "json" in ctype:
            body = json.loads(raw)
            if isinstance(body, dict):
                params.update(body)
        else:
            params.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
        return params

    async def _handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        if request.path_params["token"] != self.token:
            return self._error(401, "Unauthorized")
        if method not in METHODS:
            return self._error(404, "Not Found")
        params = await self._params(request)
        with self._cond:
            self.calls.append(Call(method, params, time.monotonic()))
            self._cond.notify_all()
            failure = next((f for f in self._failures if f[0] == method), None)
            if failure is not None:
                index = self._failures.index(failure)
                if failure[2] <= 1:
                    self._failures.pop(index)
                else:
                    self._failures[index] = (failure[0], failure[1], failure[2] - 1)
        if failure is not None:
            return self._error(failure[1], "injected failure")
        return await getattr(self, f"_m_{method}")(params)

    async def _m_getMe(self, params: dict[str, Any]) -> Response:
        return self._answer(
            {
                "id": self.token.split(":", 1)[0],
                "account_name": "bot.lienlac",
                "account_type": "BASIC",
                "can_join_groups": False,
            }
        )

    async def _m_getUpdates(self, params: dict[str, Any]) -> Response:
        if self.webhook_url:
            self.rejections.append("getUpdates while a webhook is set")
            return self._error(409, "Conflict: webhook is set")
        try:
            wait = float(params.get("timeout", 30))
        except (TypeError, ValueError):
            self.violations.append(f"getUpdates timeout {params.get('timeout')!r}")
            return self._error(400, "Bad Request")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not self._stopping:
            with self._cond:
                if self._pending:
                    return self._answer(self._pending.pop(0))
            await asyncio.sleep(0.02)
        return self._error(408, "Request timeout")

    async def _m_setWebhook(self, params: dict[str, Any]) -> Response:
        url, secret = str(params.get("url", "")), str(params.get("secret_token", ""))
        if not url or not 8 <= len(secret) <= 256:
            self.violations.append("setWebhook needs url and an 8-256 character secret_token")
            return self._error(400, "Bad Request")
        with self._cond:
            self.webhook_url, self.webhook_secret = url, secret
        return self._answer({"url": url, "updated_at": int(time.time() * 1000)})

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Response:
        with self._cond:
            self.webhook_url, self.webhook_secret = "", ""
        return self._answer({"url": "", "updated_at": int(time.time() * 1000)})

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> Response:
        if not self.webhook_url:
            return self._error(404, "Not Found")
        return self._answer({"url": self.webhook_url, "updated_at": int(time.time() * 1000)})

    async def _m_sendChatAction(self, params: dict[str, Any]) -> Response:
        if params.get("action") != "typing" or not params.get("chat_id"):
            self.violations.append(f"sendChatAction {params}")
            return self._error(400, "Bad Request")
        return self._answer()

    async def _m_sendMessage(self, params: dict[str, Any]) -> Response:
        text = params.get("text")
        if not params.get("chat_id") or not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
            self.violations.append(f"sendMessage text of length {len(str(text or ''))}")
            return self._error(400, "Bad Request")
        with self._cond:
            self.sent.append(dict(params))
            self._cond.notify_all()
        return self._answer({"message_id": self.new_message_id(), "date": int(time.time() * 1000)})

    async def _m_sendPhoto(self, params: dict[str, Any]) -> Response:
        """Like Zalo: ``photo`` is a URL the platform fetches (no upload); the picture fetched
        is kept in :attr:`photos` (``{"chat_id", "url", "png"}``)."""
        url = params.get("photo")
        if not params.get("chat_id") or not isinstance(url, str) or not url.startswith("http"):
            self.violations.append(f"sendPhoto without a chat_id or a photo URL: {params}")
            return self._error(400, "Bad Request")
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
                fetched = await client.get(url)
        except httpx.HTTPError:
            fetched = None
        if fetched is None or fetched.status_code != 200 or not fetched.content.startswith(PNG):
            self.violations.append("sendPhoto: the photo URL gave no picture")
            return self._error(400, "Bad Request: cannot fetch photo")
        with self._cond:
            self.photos.append(
                {
                    "chat_id": params["chat_id"],
                    "url": url,
                    "png": fetched.content,
                    "caption": params.get("caption", ""),
                }
            )
            self._cond.notify_all()
        return self._answer({"message_id": self.new_message_id(), "date": int(time.time() * 1000)})

    async def _cdn(self, request: Request) -> Response:
        with self._cond:
            data = self.cdn.get(request.path_params["name"])
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="image/png")

    async def _m_sendSticker(self, params: dict[str, Any]) -> Response:
        return self._answer({"message_id": self.new_message_id(), "date": int(time.time() * 1000)})
