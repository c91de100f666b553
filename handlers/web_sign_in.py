"""``/web``: a linked teacher gets a single-use link that signs them in to the school
office's web page (issue 18, ``bot/admin``).

Only a hash of the link's token is stored (``uow.web_sign_ins``); the link lasts
:data:`LINK_LIFETIME` and works once. What the teacher may see there is decided by the web
page from the roster on every request, not here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from bot.feature import Feature
from bot.messages import Reply
from bot.ports import LinkRole
from bot.turn import Turn
from handlers.intents import Intent, IntentName

LINK_LIFETIME = dt.timedelta(minutes=10)
SIGN_IN_PATH = "/signin/"  # under the web page's base (…/admin)


def token_hash(token: str) -> str:
    """What is stored for a sign-in token (the token itself never is)."""
    return hashlib.sha256(token.encode()).hexdigest()


async def web_link(turn: Turn) -> list[Reply]:
    staff = [link for link in await turn.links() if link.role is LinkRole.STAFF]
    if not staff:
        return [Reply(text=turn.t("admin.chat_staff_only"))]
    base = turn.services.web_url
    if not base:
        return [Reply(text=turn.t("admin.chat_not_configured"))]
    token = secrets.token_urlsafe(32)
    now = turn.now()
    await turn.uow.web_sign_ins.issue(
        token_hash=token_hash(token),
        key=turn.key,
        teacher_id=staff[0].subject_id,
        expires_at=now + LINK_LIFETIME,
        now=now,
    )
    await turn.audit("web.link_issued", subject=staff[0].subject_id)
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    url = base.rstrip("/") + SIGN_IN_PATH + token
    return [Reply(text=turn.t("admin.chat_link", url=url, minutes=minutes), private_only=True)]


async def _commands(turn: Turn, intent: Intent) -> list[Reply] | None:
    if intent.name is IntentName.WEB:
        return await web_link(turn)
    return None


async def _intent(turn: Turn, intent: Intent) -> list[Reply]:
    return await web_link(turn)


FEATURE = Feature(name="web_sign_in", commands=(_commands,), intents={IntentName.WEB: _intent})
