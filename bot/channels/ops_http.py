"""``GET /healthz`` and ``GET /metrics`` for operators, on ``LIENLAC_METRICS__LISTEN``.

In webhook mode the webhook server answers both already; this small server is for the
polling modes (Telegram, Zalo Bot) and the terminal, where nothing listens otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.channels.telegram import _bind, _Server, parse_listen

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
    host, port = parse_listen(listen)
    try:
        sock = _bind(host, port)
    except OSError as err:
        log.error("the metrics server cannot listen on %s: %s", listen, err.strerror)
        return
    server = _Server(
        uvicorn.Config(
            ops_app(metrics),
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=1,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(serving), 3.0)
        sock.close()
