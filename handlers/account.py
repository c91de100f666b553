"""Help, language and forgetting: the turns that are about the chat itself."""

from __future__ import annotations

from bot.feature import Feature, action
from bot.i18n import LOCALES
from bot.messages import Button, Reply
from bot.ports import LinkRole
from bot.turn import Turn
from handlers.common import linked_children
from handlers.intents import Intent, IntentName
from handlers.menus import menu_for

LANG = "lang"
FORGET = "forget"


async def help_menu(turn: Turn, *, unknown: bool = False) -> list[Reply]:
    intro = turn.t("help.unknown") + "\n\n" if unknown else ""
    one_school = "\n\n" + turn.t("help.one_school")  # issue 20: a bot per school
    if not await turn.links():
        return [Reply(text=intro + turn.t("help.unlinked") + one_school + _demo(turn))]
    children = await linked_children(turn)
    names = ", ".join(f"{c.full_name} ({c.class_name})" for c in children)
    linked = turn.t("help.children", names=names) + "\n\n" if names else ""
    # Issue 16: the fake-teacher scam asks parents to pay "the teacher" or a private account.
    no_other = "\n\n" + turn.t("help.no_other_payment")
    body = turn.t("help.linked") + one_school + no_other if children else ""
    if any(link.role is LinkRole.STAFF for link in await turn.links()):
        body = "\n\n".join(part for part in (body, turn.t("help.teacher")) if part)
    return [Reply(text=intro + linked + body, buttons=await menu_for(turn))]


def _demo(turn: Turn) -> str:
    return "\n" + turn.t("verify.demo_hint") if turn.key.school_id == "demo" else ""


def forget_confirm(turn: Turn) -> list[Reply]:
    return [
        Reply(
            text=turn.t("forget.confirm"),
            buttons=(
                (
                    Button(label=turn.t("button.forget_yes"), action=action(FORGET, "yes")),
                    Button(label=turn.t("button.forget_no"), action=action(FORGET, "no")),
                ),
            ),
        )
    ]


async def forget(turn: Turn) -> list[Reply]:
    """Unlink this chat user and delete what we hold about them (Decree 13/2023 Art. 9, 16)."""
    await turn.uow.privacy.forget_user(turn.key, now=turn.now())
    await turn.audit("account.forget")  # the anonymised trace: a keyed hash, no ids
    turn.forget_cached_links()
    turn.state.clear_dialog()
    turn.state.menu = {}
    turn.state.locale = None
    turn.forgotten = True  # the router saves no state for this user after the turn
    return [Reply(text=turn.t("forget.done"), edit=True)]


def language_menu(turn: Turn) -> list[Reply]:
    return [
        Reply(
            text=turn.t("lang.choose"),
            buttons=(
                tuple(
                    Button(label=turn.t(f"lang.name_{code}"), action=action(LANG, code))
                    for code in LOCALES
                ),
            ),
        )
    ]


def set_language(turn: Turn, code: str) -> list[Reply]:
    if code not in LOCALES:
        return language_menu(turn)
    turn.state.locale = code
    turn.locale = code
    return [Reply(text=turn.t("lang.set"), edit=True)]


async def _commands(turn: Turn, intent: Intent) -> list[Reply] | None:
    """Answered anywhere, even in the middle of a dialog."""
    if intent.name is IntentName.FORGET:
        return forget_confirm(turn)
    if intent.name is IntentName.LANG:
        return language_menu(turn)
    if intent.name is IntentName.HELP and turn.text.startswith("/"):
        turn.state.clear_dialog()
        return await help_menu(turn)
    return None


async def _on_forget(turn: Turn, answer: str) -> list[Reply]:
    if answer == "yes":
        return await forget(turn)
    return [Reply(text=turn.t("forget.kept"), edit=True)]


async def _on_lang(turn: Turn, code: str) -> list[Reply]:
    return set_language(turn, code)


async def _help(turn: Turn, intent: Intent) -> list[Reply]:
    return await help_menu(turn)


async def _language_menu(turn: Turn) -> list[Reply]:
    return language_menu(turn)


FEATURE = Feature(
    name="account",
    commands=(_commands,),
    intents={IntentName.HELP: _help},  # UNKNOWN: handlers.clarify
    actions={LANG: _on_lang, FORGET: _on_forget},
    menu={"lang": _language_menu},
)
