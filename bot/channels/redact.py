"""Secrets never reach a log line: bot tokens, webhook secrets, OA keys.

:func:`redacted` blanks them in every record of the root handlers while the block runs, and
quiets the HTTP libraries that log full URLs (a Telegram URL carries the token)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator

NOISY = ("httpx", "httpcore", "telegram")  # they log request URLs


class RedactSecrets(logging.Filter):
    """Blanks secrets in a record's message and traceback text (install on handlers)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True


@contextlib.contextmanager
def redacted(*secrets: str) -> Iterator[None]:
    """Blank ``secrets`` (and the part after ``:`` of a bot token) in every log record."""
    parts = [s for s in secrets if s] + [s.split(":", 1)[-1] for s in secrets if ":" in s]
    redact = RedactSecrets(parts)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(redact)
    for name in NOISY:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(redact)
