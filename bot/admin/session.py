"""The office web page's session cookie, CSRF tokens and the sign-in rate limit.

The cookie is ``base64(json).hmac`` with a key derived from the installation's secret, so any
worker behind a load balancer accepts it. It carries a random session id, the teacher's id
(never a name, phone or code), a CSRF token and the time of the last request; each request
re-signs it, so a session ends after ``idle`` without a request. Signing out records the
session id as ended in the database (``web_session_ended``), which every request checks: a
copied cookie dies with the sign-out too. What the
teacher may see is not in the cookie: it is read from the roster on every request.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections import deque
from dataclasses import dataclass

COOKIE = "lienlac_admin"


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    school_id: str  # the teacher's own school (an operator may look at others)
    teacher_id: str
    csrf: str
    seen: dt.datetime  # the last request
    viewing: str = ""  # the school an operator is looking at ("" = their own)
    sid: str = ""  # random; what sign-out records as ended


class Signer:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"lienlac-admin-session", hashlib.sha256).digest()

    def _mac(self, body: bytes) -> str:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def dump(self, session: Session) -> str:
        data = {
            "s": session.school_id,
            "t": session.teacher_id,
            "c": session.csrf,
            "a": int(session.seen.timestamp()),
            "v": session.viewing,
            "i": session.sid,
        }
        body = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
        return f"{body.decode()}.{self._mac(body)}"

    def load(self, value: str, *, now: dt.datetime, idle: dt.timedelta) -> Session | None:
        """The session in ``value``; None when forged, malformed or idle too long."""
        body, _, mac = value.partition(".")
        if not hmac.compare_digest(self._mac(body.encode()), mac):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
            seen = dt.datetime.fromtimestamp(int(data["a"]), dt.UTC)
            session = Session(
                school_id=str(data["s"]),
                teacher_id=str(data["t"]),
                csrf=str(data["c"]),
                seen=seen,
                viewing=str(data.get("v", "")),
                sid=str(data["i"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if not session.sid or now - seen > idle or seen - now > dt.timedelta(minutes=5):
            return None
        return session


def new_session(school_id: str, teacher_id: str, now: dt.datetime) -> Session:
    return Session(
        school_id=school_id,
        teacher_id=teacher_id,
        csrf=secrets.token_urlsafe(24),
        seen=now,
        sid=secrets.token_urlsafe(18),
    )


def sid_hash(sid: str) -> str:
    """What the database keeps of an ended session's id."""
    return hashlib.sha256(sid.encode()).hexdigest()


def csrf_ok(session: Session, given: str) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf.encode(), given.encode())


class FailureLimit:
    """At most ``limit`` failed sign-ins per client address in ``window`` (in memory: a
    restart forgets, which only helps a guesser of a 256-bit token very little)."""

    def __init__(self, limit: int = 10, window: dt.timedelta = dt.timedelta(minutes=15)) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[dt.datetime]] = {}

    def _recent(self, client: str, now: dt.datetime) -> deque[dt.datetime]:
        failures = self._failures.setdefault(client, deque())
        while failures and now - failures[0] > self.window:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return deque()
        return failures

    def blocked(self, client: str, now: dt.datetime) -> bool:
        return len(self._recent(client, now)) >= self.limit

    def fail(self, client: str, now: dt.datetime) -> int:
        """Record one failure; how many there were in the window."""
        failures = self._failures.setdefault(client, deque())
        failures.append(now)
        if len(self._failures) > 10_000:  # a flood of addresses: keep memory bounded
            self._failures.pop(next(iter(self._failures)))
        return len(self._recent(client, now))
