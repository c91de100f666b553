"""Errors the core understands. Each carries a message key, never text.

::

    LienLacError
     ├── BackendError              the school system could not answer
     │    ├── BackendUnavailable   down, slow, timed out, 5xx
     │    ├── BackendAuthFailed    our credentials were refused
     │    ├── BackendNotFound      the record does not exist there
     │    └── BackendUnsupported   this backend lacks the capability
     ├── OtpDeliveryFailed         the SMS/ZNS gateway did not accept the code
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


class ConcurrentTurn(LienLacError):
    """The conversation row changed under us (another process handled a turn)."""
