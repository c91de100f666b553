"""OTP delivery: ``console`` (the demo prints a simulated SMS) and ``http_json`` (a generic
gateway hook: POST ``{"phone", "text"}``; any 2xx means accepted).

Neither ever logs the phone or the text. A gateway error or timeout raises
``OtpDeliveryFailed``, so the user is told and can retry without burning an attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx

from bot.domain.errors import OtpDeliveryFailed
from bot.domain.phone import mask_phone

log = logging.getLogger(__name__)


class ConsoleOtpSender:
    """Shows each code as a simulated SMS line in the terminal (demo only)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write

    async def send(self, *, phone: str, text: str) -> None:
        self._write(f"📱 [SMS giả lập tới {mask_phone(phone)}] {text}")


class HttpJsonOtpSender:
    def __init__(self, client: httpx.AsyncClient, url: str, *, timeout: float) -> None:
        self._client = client
        self._url = url
        self._timeout = timeout

    async def send(self, *, phone: str, text: str) -> None:
        try:
            response = await self._client.post(
                self._url, json={"phone": phone, "text": text}, timeout=self._timeout
            )
        except httpx.HTTPError as err:
            log.warning("OTP gateway unreachable: %s", type(err).__name__)
            raise OtpDeliveryFailed() from err
        if not response.is_success:
            log.warning("OTP gateway refused the message: HTTP %s", response.status_code)
            raise OtpDeliveryFailed()
