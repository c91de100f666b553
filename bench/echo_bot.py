"""The ``reply`` benchmark's baseline: a bare python-telegram-bot echo bot, long polling.

``python -m bench.echo_bot <token> <api base url>``; stops on SIGTERM."""

from __future__ import annotations

import sys

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.message is not None and update.message.text is not None:
        await update.message.reply_text(update.message.text)


def main() -> None:
    token, base = sys.argv[1], sys.argv[2]
    app = (
        Application.builder()
        .token(token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .concurrent_updates(True)
        .connection_pool_size(64)  # the same pool LienLac's bot gets: PTB's default is 1
        .pool_timeout(30)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, _echo))
    app.run_polling(poll_interval=0.0, timeout=10, drop_pending_updates=False)


if __name__ == "__main__":
    main()
