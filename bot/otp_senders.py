"""OTP delivery: ``console`` (the demo prints a simulated SMS), ``http_json`` (a generic
gateway hook: POST ``{"phone", "text"}``; any 2xx means accepted), ``sms`` (an eSMS/SpeedSMS
style brandname gateway) and ``zns`` (a Zalo ZNS/ZBS template, SMS as fallback).

None ever logs the phone, the text or the code. A gateway error or timeout raises
``OtpDeliveryFailed``, so the user is told and can retry without burning an attempt.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx

from bot.domain.errors import OtpDeliveryFailed
from bot.domain.phone import mask_phone, normalize_phone
from bot.ports import OtpSender

if TYPE_CHECKING:
    from bot.config import SmsGatewaySettings

log = logging.getLogger(__name__)

_OTP_CODE = re.compile(r"(?<!\d)(\d{4,8})(?!\d)")


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


# --- SMS brandname gateways (eSMS.vn, SpeedSMS) ------------------------------------------

ESMS_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
SPEEDSMS_PATH = "/index.php/sms/send"
ESMS_ACCEPTED = "100"


def _national(phone: str) -> str:
    """``0912…`` from any usual spelling (``+84912…``, ``84912…``); the number is never echoed
    in the error."""
    national = normalize_phone(phone)
    if national is None:
        log.warning("OTP not sent: the phone on file is not a Vietnamese mobile number")
        raise OtpDeliveryFailed()
    return national


def _international(phone: str) -> str:
    return "84" + _national(phone)[1:]


class SmsGatewayOtpSender:
    """``LIENLAC_OTP__PROVIDER=sms``: an SMS brandname gateway in the eSMS or SpeedSMS style.

    eSMS answers HTTP 200 with ``CodeResult`` ("100" = accepted); SpeedSMS answers
    ``{"status": "success"|"error", "code"}``. Anything else, a non-2xx status, a network error
    or the timeout is "not sent" (``OtpDeliveryFailed``). Logs only the gateway's result code.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        style: str,
        base_url: str,
        api_key: str,
        secret_key: str = "",
        brandname: str = "",
        sms_type: str = "",
        sandbox: bool = False,
        timeout: float,
    ) -> None:
        self._client = client
        self._style = style
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._secret_key = secret_key
        self._brandname = brandname
        self._sms_type = sms_type
        self._sandbox = sandbox
        self._timeout = timeout

    async def send(self, *, phone: str, text: str) -> None:
        if self._style == "speedsms":
            await self._speedsms(_international(phone), text)
        else:
            await self._esms(_national(phone), text)

    async def _post(self, url: str, **kw: Any) -> dict[str, Any]:
        try:
            response = await self._client.post(url, timeout=self._timeout, **kw)
        except httpx.HTTPError as err:
            log.warning("SMS gateway unreachable: %s", type(err).__name__)
            raise OtpDeliveryFailed() from err
        if not response.is_success:
            log.warning("SMS gateway refused the message: HTTP %s", response.status_code)
            raise OtpDeliveryFailed()
        try:
            body = response.json()
        except ValueError as err:
            log.warning("SMS gateway answered something that is not JSON")
            raise OtpDeliveryFailed() from err
        if not isinstance(body, dict):
            log.warning("SMS gateway answered an unexpected JSON value")
            raise OtpDeliveryFailed()
        return body

    async def _esms(self, phone: str, text: str) -> None:
        payload = {
            "ApiKey": self._api_key,
            "SecretKey": self._secret_key,
            "Phone": phone,
            "Content": text,
            "Brandname": self._brandname,
            "SmsType": self._sms_type or "2",
            "IsUnicode": "0" if text.isascii() else "1",  # unaccented: 160 chars a part
            "Sandbox": "1" if self._sandbox else "0",
            "RequestId": secrets.token_hex(12),
        }
        body = await self._post(self._base + ESMS_PATH, json=payload)
        code = str(body.get("CodeResult", ""))
        if code != ESMS_ACCEPTED:
            log.warning("SMS gateway (eSMS) refused the message: CodeResult %s", code[:10])
            raise OtpDeliveryFailed()

    async def _speedsms(self, phone: str, text: str) -> None:
        payload = {
            "to": [phone],
            "content": text,
            "sms_type": int(self._sms_type or "3"),
            "sender": self._brandname,
        }
        body = await self._post(
            self._base + SPEEDSMS_PATH, json=payload, auth=httpx.BasicAuth(self._api_key, "x")
        )
        if body.get("status") != "success":
            log.warning(
                "SMS gateway (SpeedSMS) refused the message: code %s", str(body.get("code"))[:10]
            )
            raise OtpDeliveryFailed()


def sms_gateway_sender(
    sms: SmsGatewaySettings, client: httpx.AsyncClient
) -> SmsGatewayOtpSender | None:
    """The SMS gateway of ``LIENLAC_OTP__SMS__*``, or None when its keys are not set."""
    if not sms.configured or sms.api_key is None:
        return None
    return SmsGatewayOtpSender(
        client,
        style=sms.style,
        base_url=sms.base_url,
        api_key=sms.api_key.get_secret_value(),
        secret_key=sms.secret_key.get_secret_value() if sms.secret_key else "",
        brandname=sms.brandname,
        sms_type=sms.sms_type,
        sandbox=sms.sandbox,
        timeout=sms.timeout_seconds,
    )


# --- Zalo ZNS / ZBS template messages ----------------------------------------------------

ZNS_PATH = "/message/template"
# ZNS errors after which an SMS may still reach the parent (reference/zalo.md §3): no Zalo
# account, cannot receive, refused this type or this OA, night-time block, daily limits.
ZNS_SMS_WORTHY = frozenset({-114, -118, -119, -133, -139, -141, -144, -115})

TokenSource = Callable[[], Awaitable[str]]


class ZnsRefused(OtpDeliveryFailed):
    def __init__(self, code: int) -> None:
        super().__init__()
        self.code = code


class ZnsOtpSender:
    """``LIENLAC_OTP__PROVIDER=zns``: the code in an approved Authentication template, sent to
    the parent's Zalo by phone (``84…``). Zalo answers HTTP 200 with ``error`` ≠ 0 on failure;
    every failure is "not sent". Logs only the error number."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        template_id: str,
        token: TokenSource,
        otp_param: str = "otp",
        development_mode: bool = False,
        timeout: float,
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + ZNS_PATH
        self._template_id = template_id
        self._token = token
        self._param = otp_param
        self._dev = development_mode
        self._timeout = timeout

    async def send(self, *, phone: str, text: str) -> None:
        found = _OTP_CODE.findall(text)
        if len(found) != 1:
            log.error("ZNS: the OTP text does not hold exactly one code")
            raise OtpDeliveryFailed()
        await self.send_template(
            phone=phone, template_id=self._template_id, data={self._param: found[0]}
        )

    async def send_template(self, *, phone: str, template_id: str, data: dict[str, str]) -> None:
        payload: dict[str, Any] = {
            "phone": _international(phone),
            "template_id": template_id,
            "template_data": data,
            "tracking_id": secrets.token_hex(16),
        }
        if self._dev:
            payload["mode"] = "development"
        try:
            token = await self._token()
        except Exception as err:
            log.warning("ZNS: no OA access token (%s)", type(err).__name__)
            raise OtpDeliveryFailed() from err
        try:
            response = await self._client.post(
                self._url, json=payload, headers={"access_token": token}, timeout=self._timeout
            )
        except httpx.HTTPError as err:
            log.warning("ZNS unreachable: %s", type(err).__name__)
            raise OtpDeliveryFailed() from err
        if not response.is_success:
            log.warning("ZNS refused the message: HTTP %s", response.status_code)
            raise OtpDeliveryFailed()
        try:
            code = int(response.json().get("error", -1))
        except (ValueError, TypeError, AttributeError) as err:
            log.warning("ZNS answered something unexpected")
            raise OtpDeliveryFailed() from err
        if code != 0:
            log.warning("ZNS refused the message: error %s", code)
            raise ZnsRefused(code)


class FallbackOtpSender:
    """ZNS first; when Zalo refuses for a reason an SMS can get around (no Zalo account,
    night-time block, quota …) or is unreachable, the SMS gateway."""

    def __init__(self, first: ZnsOtpSender, then: OtpSender) -> None:
        self._first = first
        self._then = then

    async def send(self, *, phone: str, text: str) -> None:
        try:
            await self._first.send(phone=phone, text=text)
        except ZnsRefused as err:
            if err.code not in ZNS_SMS_WORTHY:
                raise
            log.info("ZNS refused (error %s); sending the code by SMS instead", err.code)
            await self._then.send(phone=phone, text=text)
        except OtpDeliveryFailed:
            log.info("ZNS failed; sending the code by SMS instead")
            await self._then.send(phone=phone, text=text)
