"""The greeting: ``/start`` on Telegram, the first message on Zalo. A linked chat gets its
menu; anyone else is asked for a code, which starts the linking dialog."""

from __future__ import annotations

from bot.feature import Feature
from bot.messages import Reply
from bot.turn import Turn
from dialogs import verify_parent
from handlers.intents import Intent, IntentName
from handlers.menus import menu_for


async def start(turn: Turn) -> list[Reply]:
    """``/start`` (Telegram) or the first message on Zalo: greet; ask for a code if unlinked."""
    info = await turn.backend.school_info()
    greeting = turn.t("start.greeting", school=info.name)
    if await turn.links():
        return [
            Reply(text=greeting + "\n\n" + turn.t("start.linked"), buttons=await menu_for(turn))
        ]
    replies = await verify_parent.start(turn, offer_roles=True)
    return [Reply(text=greeting + "\n\n" + replies[0].text, buttons=replies[0].buttons)]


async def _command(turn: Turn, intent: Intent) -> list[Reply] | None:
    if intent.name is not IntentName.START:
        return None
    turn.state.clear_dialog()
    return await start(turn)


FEATURE = Feature(name="welcome", commands=(_command,))
