"""``GET /healthz`` and ``GET /metrics`` for operators, on ``LIENLAC_METRICS__LISTEN``.

In webhook mode the webhook server answers both already; this small server is for the
polling modes (Telegram, Zalo Bot) and the terminal, where nothing listens otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.channels.http_server import running

log = logging.getLogger(__name__)


def ops_app(metrics: Callable[[], Awaitable[bytes]]) -> Starlette:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def prometheus(request: Request) -> Response:
        return Response(await metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ]
    )


async def serve_ops(
    metrics: Callable[[], Awaitable[bytes]], listen: str, stop: asyncio.Event
) -> None:
    """Serve until ``stop``. A busy port is logged, not fatal: the bot goes on without it."""
    async with running(ops_app(metrics), listen, what="metrics server") as up:
        if up:
            await stop.wait()
