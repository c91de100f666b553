"""Errors the core understands. Each carries a message key, never text.

::

    LienLacError
     ├── BackendError              the school system could not answer
     │    ├── BackendUnavailable   down, slow, timed out, 5xx
     │    ├── BackendAuthFailed    our credentials were refused
     │    ├── BackendNotFound      the record does not exist there
     │    └── BackendUnsupported   this backend lacks the capability
     ├── OtpDeliveryFailed         the SMS/ZNS gateway did not accept the code
     ├── DeliveryRetryLater        the outbox relay should try this message again later
     ├── DeliveryFailedPermanently the recipient cannot be reached (blocked, chat gone)
     └── ConcurrentTurn            another process saved this conversation first

Adapters translate their own exceptions into these at the boundary
(``raise BackendUnavailable() from err``); users see the text for ``message_key``.
"""

from __future__ import annotations


class LienLacError(Exception):
    message_key = "error.generic"


class BackendError(LienLacError):
    message_key = "error.backend_unavailable"


class BackendUnavailable(BackendError):
    message_key = "error.backend_unavailable"


class BackendAuthFailed(BackendError):
    message_key = "error.backend_unavailable"


class BackendNotFound(BackendError):
    message_key = "error.not_found"


class BackendUnsupported(BackendError):
    message_key = "error.unsupported"


class OtpDeliveryFailed(LienLacError):
    message_key = "verify.otp_send_failed"


class DeliveryRetryLater(LienLacError):
    """Rate-limited (429 ``retry_after``), a 5xx or a network error: not the message's fault."""

    def __init__(self, reason: str, *, after_seconds: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_seconds = after_seconds  # None: the relay's own backoff decides


class DeliveryFailedPermanently(LienLacError):
    """Never retry: the user blocked the bot, the chat is gone, the request is invalid."""

    def __init__(self, reason: str, *, unreachable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable  # True: deactivate the recipient's links


class ConcurrentTurn(LienLacError):
    """The conversation row changed under us (another process handled a turn)."""
