"""One way to run an HTTP app (webhooks, /healthz, /metrics) beside the bot: bound by us, so a
busy port is a logged error rather than uvicorn's ``sys.exit``; started before anything is
registered with a platform; stopped gracefully, then forcibly, when the block ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator, Sequence

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` / ``"[::1]:8080"`` -> (host, port)."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"LIENLAC_WEBHOOK__LISTEN must be host:port, not {listen!r}")
    return host.strip("[]"), int(port)


def bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class QuietServer(uvicorn.Server):
    """uvicorn without its own SIGINT/SIGTERM capture, which would fight ours (and re-raise
    the signal after shutdown): the process owns the signals and stops the server itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def running(app: ASGIApp, listen: str | Sequence[str], *, what: str) -> AsyncIterator[bool]:
    """Serve ``app`` on ``listen`` (one address, or several for the same app) for the block.
    Yields True once it accepts connections, False when it could not start (the reason is
    logged, naming ``what``)."""
    addresses = [listen] if isinstance(listen, str) else list(dict.fromkeys(listen))
    socks: list[socket.socket] = []
    for address in addresses:
        host, port = parse_listen(address)
        try:
            socks.append(bind(host, port))
        except OSError as err:
            log.error("the %s cannot listen on %s: %s", what, address, err.strerror)
            for sock in socks:
                sock.close()
            yield False
            return
    server = QuietServer(
        uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=2,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=socks))
    try:
        while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn's flag
            await asyncio.sleep(0.02)
        if serving.done():
            log.error("the %s stopped at start", what)
        yield not serving.done()
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(serving), 4.0)
        if not serving.done():
            server.force_exit = True
            await asyncio.wait([serving], timeout=1.0)
        for sock in socks:
            sock.close()
