"""``GET /healthz`` and ``GET /metrics`` for operators, on ``LIENLAC_METRICS__LISTEN``.

In webhook mode the webhook server answers both already; this small server is for the
polling modes (Telegram, Zalo Bot) and the terminal, where nothing listens otherwise.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from bot.channels.http_server import running
from bot.channels.webhook import Endpoint, Hooks, webhook_app

log = logging.getLogger(__name__)


def metrics_endpoint(
    metrics: Callable[[], Awaitable[bytes]], token: str | None, *, public: bool
) -> Endpoint:
    """``GET /metrics`` (issue 13.11: it was open to anyone who reached the port). On a
    ``public`` server (the webhook server, reachable by the platforms) it answers only with
    ``Authorization: Bearer <LIENLAC_METRICS__TOKEN>``, and not at all (404) when no token is
    set: use ``LIENLAC_METRICS__LISTEN`` on a private address instead. On that private
    server the token is required only when one is set."""

    async def prometheus(request: Request) -> Response:
        if token is None and public:
            return Response(status_code=404)
        if token is not None:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return Response(await metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return prometheus


async def serve_ops(
    metrics: Callable[[], Awaitable[bytes]], listen: str, stop: asyncio.Event, token: str | None
) -> None:
    """Serve until ``stop``. A busy port is logged, not fatal: the bot goes on without it."""
    endpoint = metrics_endpoint(metrics, token, public=False)
    # the webhook server's app with no webhook on it: the same /healthz and /metrics
    async with running(webhook_app(Hooks(), metrics=endpoint), listen, what="metrics server") as up:
        if up:
            await stop.wait()
