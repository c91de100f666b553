"""A worker process for the OA token race test: waits until ``--at`` (epoch seconds), then asks
for an access token ``--rounds`` times concurrently, and prints each token it got.

    python -m tests.oa_token_worker --db URL --oauth http://127.0.0.1:PORT --app-id A \
        --app-secret S --at 1700000000.5 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from bot.channels.zalo_oa import oauth_refresher
from bot.clock import SystemClock
from bot.oa_tokens import OaTokenManager
from storage.engine import create_engine
from storage.oa_tokens import SqlOaTokenStore


async def main(args: argparse.Namespace) -> None:
    engine = create_engine(args.db)
    try:
        async with httpx.AsyncClient() as client:
            manager = OaTokenManager(
                SqlOaTokenStore(engine),
                oauth_refresher(
                    client,
                    oauth_base_url=args.oauth,
                    app_id=args.app_id,
                    app_secret=args.app_secret,
                ),
                school_id="demo",
                clock=SystemClock(),
            )
            await asyncio.sleep(max(0.0, args.at - time.time()))
            tokens = await asyncio.gather(*(manager.access_token() for _ in range(args.rounds)))
            for token in tokens:
                print(f"token {token}", flush=True)
            print(f"refreshes {manager.refreshes}", flush=True)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--oauth", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--app-secret", required=True)
    parser.add_argument("--at", type=float, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
