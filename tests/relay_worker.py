"""A relay worker process for the multi-process outbox tests, and the loopback sink it posts to.

    python -m tests.relay_worker --db postgresql+asyncpg://... --sink http://127.0.0.1:PORT \
        --channel sink --lease 6 --max-bots 4

prints ``ready <worker id>`` once it runs and exits cleanly on SIGTERM/SIGINT. It delivers
with :class:`HttpSinkSender`, an :class:`bot.outbox.IdempotentSender` that POSTs
``{"key": "outbox-<row id>", "worker", "school", "chat", "text"}`` to ``<sink>/deliver``;
:class:`CountingSink` (Starlette, served by :class:`SinkServer`) counts
every POST and deduplicates by ``key``, so a test sees both what a recipient would have got
and every raw repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from bot.clock import SystemClock
from bot.domain.errors import DeliveryFailedPermanently, DeliveryRetryLater
from bot.messages import Button, ConversationKey
from bot.outbox import ChannelLimits, OutboxRelay, Rate, default_worker_id
from storage.engine import create_engine
from storage.outbox_store import SqlOutboxStore


class HttpSinkSender:
    """POSTs each message to the sink with its idempotency key."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, worker_id: str) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/deliver"
        self._worker = worker_id

    async def deliver(
        self, recipient: ConversationKey, text: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> None:
        await self.deliver_idempotent("", recipient, text, buttons)

    async def deliver_idempotent(
        self,
        idempotency_key: str,
        recipient: ConversationKey,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
    ) -> None:
        body = {
            "key": idempotency_key,
            "worker": self._worker,
            "school": recipient.school_id,
            "chat": recipient.chat_id,
            "text": text,
        }
        try:
            response = await self._client.post(self._url, json=body)
        except httpx.HTTPError as exc:
            raise DeliveryRetryLater(f"network: {type(exc).__name__}") from exc
        if response.status_code == 429:
            retry = float(response.headers.get("retry-after", "1"))
            raise DeliveryRetryLater("HTTP 429", after_seconds=retry)
        if response.status_code >= 500:
            raise DeliveryRetryLater(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise DeliveryFailedPermanently(f"HTTP {response.status_code}", unreachable=False)


@dataclass(frozen=True, slots=True)
class Receipt:
    key: str
    worker: str
    school: str
    chat: str
    at: float  # time.monotonic() in the sink's process


class SinkServer:
    """Serve an ASGI app on ``127.0.0.1:<free port>`` from a thread (uvicorn, h11).

    The listening socket is created with ``IPPROTO_TCP``: asyncio turns on ``TCP_NODELAY``
    for accepted sockets only when ``sock.proto == IPPROTO_TCP``; with a plain
    ``socket.socket(AF_INET, SOCK_STREAM)`` (proto 0) every response waits ~40 ms for the
    client's delayed ACK (Nagle), which caps a keep-alive client at ~25 requests/s.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SinkServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app, log_config=None, access_log=False, lifespan="off", http="h11", ws="none"
        )
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the sink did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(15)


class CountingSink:
    """The recipient side: every POST is kept; ``unique`` are the first receipt per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.receipts: list[Receipt] = []
        self.unique: dict[str, Receipt] = {}
        self._hold: str | None = None
        self.held: list[Receipt] = []
        self.app = Starlette(routes=[Route("/deliver", self._deliver, methods=["POST"])])

    def hold(self, worker: str | None) -> None:
        """From now on, messages from ``worker`` are received (counted) but never answered
        while held: like a platform that accepted a message whose sender then died."""
        with self._lock:
            self._hold = worker

    async def _deliver(self, request: Request) -> JSONResponse:
        body = await request.json()
        receipt = Receipt(
            key=str(body["key"]),
            worker=str(body["worker"]),
            school=str(body["school"]),
            chat=str(body["chat"]),
            at=time.monotonic(),
        )
        with self._lock:
            self.receipts.append(receipt)
            self.unique.setdefault(receipt.key, receipt)
            held = self._hold == receipt.worker
            if held:
                self.held.append(receipt)
        while held:
            await asyncio.sleep(0.01)
            with self._lock:
                held = self._hold == receipt.worker
        return JSONResponse({"ok": True})

    def held_count(self) -> int:
        with self._lock:
            return len(self.held)

    def counts(self) -> tuple[int, int]:
        """(raw POSTs, distinct keys)."""
        with self._lock:
            return len(self.receipts), len(self.unique)

    def per_worker(self) -> Counter[str]:
        with self._lock:
            return Counter(r.worker for r in self.receipts)

    def repeats(self) -> list[Receipt]:
        """Every receipt after the first of its key."""
        with self._lock:
            seen: set[str] = set()
            out = []
            for r in self.receipts:
                if r.key in seen:
                    out.append(r)
                seen.add(r.key)
            return out


async def main(args: argparse.Namespace) -> None:
    worker_id = args.worker_id or default_worker_id()
    engine = create_engine(args.db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    limits = {
        args.channel: ChannelLimits(
            per_bot=Rate(args.bot_rate, burst=max(1.0, args.bot_rate / 10)),
            per_private_chat=None,
        )
    }
    timeout = httpx.Timeout(args.timeout)
    async with httpx.AsyncClient(timeout=timeout) as client:
        relay = OutboxRelay(
            SqlOutboxStore(engine),
            {args.channel: HttpSinkSender(client, args.sink, worker_id)},
            SystemClock(),
            worker_id=worker_id,
            batch_size=args.batch,
            lease=dt.timedelta(seconds=args.lease),
            limits=limits,
            quiet_hours=None,
            max_bots=args.max_bots,
            poll_interval=args.poll,
        )
        print(f"ready {relay.worker_id}", flush=True)
        try:
            await relay.run(stop)
        finally:
            await engine.dispose()
    print(f"stopped {relay.worker_id}", flush=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--db", required=True)
    p.add_argument("--sink", required=True)
    p.add_argument("--channel", default="sink")
    p.add_argument("--worker-id", default=None)
    p.add_argument("--lease", type=float, default=6.0)
    p.add_argument("--max-bots", type=int, default=None)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--poll", type=float, default=0.05)
    p.add_argument("--bot-rate", type=float, default=5000.0)
    p.add_argument("--timeout", type=float, default=1.5)
    return p.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bot.outbox").setLevel(logging.INFO)
    asyncio.run(main(parse()))
