"""One turn at a time per conversation: lock, load state, run the dialog or handler, save.

Warning:
    Never load a conversation's state before taking its lock, and never hold two locks.
    Within one process the lock is an ``asyncio.Lock`` per ``ConversationKey``; across
    processes the state row's version makes a second writer fail (``ConcurrentTurn``),
    and the turn is retried once on fresh state.

The router is the only place that turns button actions into opaque tokens (and back),
so dialogs and handlers deal in readable actions and channels in short tokens.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping

from bot.domain.absence import parse_decision
from bot.domain.errors import BackendError, ConcurrentTurn
from bot.domain.text import clean, fold
from bot.feature import MENU, Registry
from bot.i18n import normalise_locale
from bot.messages import ChannelCapabilities, ConversationKey, Incoming, Reply
from bot.polls import ACTION_ANSWER
from bot.ports import UnitOfWork, UnitOfWorkFactory
from bot.throttle import Throttle, Verdict
from bot.turn import AS_TEACHER, CoreServices, Turn, with_tokens
from dialogs import (
    absence_request,
    notice,
    poll,
    poll_edit,
    reject_reason,
    settings,
    teacher_message,
    teacher_post,
    verify_parent,
    welcome,
)
from handlers import (
    absence,
    account,
    attendance,
    clarify,
    contact,
    contact_book,
    fees,
    poll_manage,
    polls,
    remarks,
    scores,
    threads,
    timetable,
    web_sign_in,
)
from handlers.common import with_data_age
from handlers.intents import IntentName, match, parse_cancel_request

log = logging.getLogger(__name__)

MAX_TEXT = 1000  # longer messages are read up to here; nobody types a question this long
BUTTON_TTL = dt.timedelta(days=7)
# Buttons whose handler checks its own deadline live longer: a poll's answer buttons work
# until the poll closes (handlers.polls re-checks it on every press), however far its
# deadline (at most 60 days ahead when set or extended); 120 days is only a backstop.
LONG_LIVED_BUTTONS = {ACTION_ANSWER: dt.timedelta(days=120)}
# Bookkeeping kept beside the numbered choices (never a number, so never typed as one)
MENU_DIALOG = "~dialog"
MENU_NUMBERS = "~numbers"

# Not understood by the active dialog, these still do not leave it: a bare code, help, and
# the "I did not understand" itself.
STAY_IN_DIALOG = frozenset(
    {IntentName.UNKNOWN, IntentName.UNSURE, IntentName.CODE, IntentName.HELP}
)

# Every feature, in the order their typed commands are tried (see bot.feature).
FEATURES = Registry(
    [
        welcome.FEATURE,
        account.FEATURE,
        web_sign_in.FEATURE,
        absence.FEATURE,
        contact_book.FEATURE,
        verify_parent.FEATURE,
        absence_request.FEATURE,
        reject_reason.FEATURE,
        settings.FEATURE,
        notice.FEATURE,
        poll.FEATURE,
        poll_edit.FEATURE,
        poll_edit.ENTRY,
        poll_manage.FEATURE,
        polls.FEATURE,
        remarks.FEATURE,
        teacher_post.FEATURE,
        threads.FEATURE,
        teacher_message.FEATURE,
        scores.FEATURE,
        timetable.FEATURE,
        fees.FEATURE,
        attendance.FEATURE,
        contact.FEATURE,
        clarify.FEATURE,
    ]
)


class Router:
    def __init__(
        self,
        *,
        services: CoreServices,
        uow_factory: UnitOfWorkFactory,
        capabilities: Mapping[str, ChannelCapabilities],
        max_concurrent_turns: int = 8,
        throttle: Throttle | None = None,
    ) -> None:
        self._services = services
        self._throttle = throttle
        # A turn holds one database transaction and the local backend opens a second session,
        # so turns in flight are capped below the connection pool (storage.engine.POOL_SIZE).
        self._turn_slots = asyncio.Semaphore(max_concurrent_turns)
        self._uow_factory = uow_factory
        self._capabilities = capabilities
        self._locks: dict[ConversationKey, asyncio.Lock] = {}
        # Called after every committed turn: wake the outbox relays (a turn may have queued
        # a message for someone else, e.g. a leave request for the teacher).
        self.after_commit: list[Callable[[], None]] = []
        self._waiting: dict[ConversationKey, int] = {}

    async def handle(self, incoming: Incoming) -> list[Reply]:
        """Run one turn and return the replies for the person who wrote. Never raises for
        bad input or a failing school system: the user always gets a polite answer."""
        key = incoming.key
        if self._throttle is not None:
            verdict = self._throttle.check((key.school_id, key.channel, key.user_id))
            if verdict is Verdict.DROP:
                return []
            if verdict is Verdict.NOTICE:
                log.info("%s is sending too fast; slowed down", key)
                text = self._services.catalog.t(self._locale_of(incoming), "throttle.slow_down")
                return [Reply(text=text, notice=bool(incoming.button_token))]
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock, self._turn_slots:
                for attempt in (1, 2):
                    try:
                        return await self._turn(incoming)
                    except ConcurrentTurn:
                        if attempt == 2:
                            raise
                        log.info("conversation %s changed under us; retrying the turn", key)
        except Exception:
            log.exception("turn failed for %s", key)
            return [
                Reply(text=self._services.catalog.t(self._locale_of(incoming), "error.generic"))
            ]
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                del self._waiting[key]
                self._locks.pop(key, None)
        raise AssertionError("unreachable")

    @property
    def throttle(self) -> Throttle | None:
        return self._throttle

    def _locale_of(self, incoming: Incoming) -> str:
        return normalise_locale(incoming.locale_hint)

    async def _turn(self, incoming: Incoming) -> list[Reply]:
        caps = self._capabilities[incoming.key.channel]
        async with self._uow_factory() as uow:
            event = {
                "school_id": incoming.key.school_id,
                "channel": incoming.key.channel,
                "event_id": incoming.event_id,
            }
            if incoming.event_id and await uow.events.seen(**event):
                log.info("event delivered again for %s; dropped", incoming.key)
                return []
            state = await uow.conversations.load(incoming.key)
            loaded = dataclasses.replace(
                state, data=copy.deepcopy(state.data), menu=dict(state.menu)
            )
            turn = Turn(
                incoming=incoming,
                state=state,
                uow=uow,
                services=self._services.for_school(incoming.key.school_id),
                locale=state.locale or normalise_locale(incoming.locale_hint),
                text=clean(incoming.text).strip()[:MAX_TEXT],
            )
            if incoming.locale_hint:
                turn.state.platform_locale = normalise_locale(incoming.locale_hint)
            try:
                if not incoming.is_group:
                    await turn.note_reader()  # "thầy/cô" or "anh/chị"
                replies = with_data_age(turn, await self._dispatch(turn, caps))
            except BackendError as err:
                log.warning("school system error for %s: %s", incoming.key, type(err).__name__)
                replies = [Reply(text=turn.t(err.message_key))]
            replies = await self._finish(turn, uow, replies, caps)
            # A question changes nothing the bot remembers: no write for it (issue 15).
            if not turn.forgotten and turn.state != loaded:
                await uow.conversations.save(incoming.key, turn.state)
            if incoming.event_id and not await uow.events.record(**event, now=turn.now()):
                log.info("event handled meanwhile by another worker for %s", incoming.key)
                return []  # rolled back: the other worker's turn stands
            await uow.commit()
        for work in turn.deferred:
            try:
                await work(self._uow_factory)
            except Exception:  # the decision is stored; the background jobs retry the rest
                log.exception("deferred work after a turn failed for %s", incoming.key)
        for hook in self.after_commit:
            hook()
        return replies

    async def _dispatch(self, turn: Turn, caps: ChannelCapabilities) -> list[Reply]:
        incoming = turn.incoming
        if incoming.is_group:
            return self._in_group(turn)
        # 1. a pressed button, or a typed menu number on a channel without buttons
        token = incoming.button_token
        if not token and not caps.buttons and turn.text.isdigit() and turn.text in turn.state.menu:
            token = turn.state.menu[turn.text]
        if token:
            resolved = await self._resolve(turn, token)
            if isinstance(resolved, list):
                return resolved
            turn.action = resolved
            turn.text = ""
            return await self._on_action(turn)
        if incoming.attachment is not None:  # a photo or document (issue 17)
            if absence_request.takes_attachment(turn):  # a medical certificate for the request
                return await absence_request.on_attachment(turn)
            return await threads.on_attachment(turn)  # else: for a teacher
        if not turn.text:
            return [Reply(text=turn.t("common.text_only"))]

        intent = match(turn.text)
        # 2. commands that work everywhere, even in the middle of a dialog
        if intent.name is IntentName.CANCEL and parse_cancel_request(intent.folded) is None:
            had_dialog = turn.state.dialog is not None
            turn.to_teacher = turn.to_teacher or AS_TEACHER in turn.state.data
            turn.state.clear_dialog()
            return [
                Reply(text=turn.t("common.cancelled" if had_dialog else "common.nothing_to_cancel"))
            ]
        for command in FEATURES.commands:
            replies = await command(turn, intent)
            if replies is not None:
                return replies
        # 3. the active dialog owns the rest of the text
        dialog = FEATURES.dialogs.get(turn.state.dialog or "")
        if dialog is not None:
            if turn.text.startswith("/"):
                return dialog.reminder(turn)
            replies = await dialog.handle(turn)
            answer = FEATURES.intents.get(intent.name)
            if turn.not_understood and answer is not None and intent.name not in STAY_IN_DIALOG:
                # "xin nghỉ cho cháu… vì ốm" typed with the settings menu open: another task
                turn.state.clear_dialog()
                turn.state.menu = {}
                left = Reply(text=turn.t("common.left_dialog"))
                return [left, *await answer(turn, intent)]
            return replies
        # 4. a question
        answer = FEATURES.intents.get(intent.name) or FEATURES.intents[IntentName.UNKNOWN]
        return await answer(turn, intent)

    @staticmethod
    def _in_group(turn: Turn) -> list[Reply]:
        """A group chat gets no personal data and takes no decision, whoever writes: one gate
        before anything is loaded (links, dialogs, buttons, typed approvals). A command or a
        question addressed to the bot gets one short line pointing to the private chat; other
        chatter in the group is left alone."""
        turn.state.clear_dialog()
        turn.state.menu = {}
        if turn.incoming.button_token:
            return [Reply(text=turn.t("group.private_only"), notice=True, to_private=True)]
        intent = match(turn.text)
        chatter = (
            intent.name in (IntentName.UNKNOWN, IntentName.UNSURE)
            and not turn.text.startswith("/")
            and parse_decision(turn.text) is None
            and parse_cancel_request(fold(turn.text)) is None
        )
        if chatter:
            return []
        return [Reply(text=turn.t("group.private_only"), to_private=True)]

    async def _resolve(self, turn: Turn, token: str) -> str | list[Reply]:
        """The action behind a token, if this very user was shown it and it is recent."""
        found = await turn.uow.buttons.resolve(token)
        if found is None:
            return [Reply(text=turn.t("button.stale"))]
        key, action, created_at = found
        if (
            key.school_id != turn.key.school_id
            or key.channel != turn.key.channel
            or key.user_id != turn.key.user_id
        ):
            await turn.audit("button.forged")
            return [Reply(text=turn.t("button.not_yours"))]
        ttl = LONG_LIVED_BUTTONS.get(action.partition(":")[0], BUTTON_TTL)
        if turn.now() - created_at > ttl:
            return [Reply(text=turn.t("button.stale"))]
        return action

    async def _on_action(self, turn: Turn) -> list[Reply]:
        prefix, _, rest = turn.action.partition(":")
        if prefix == MENU:
            entry = FEATURES.menu.get(rest)
            turn.state.clear_dialog()  # the user chose something else
            return await entry(turn) if entry else [Reply(text=turn.t("button.stale"))]
        route = FEATURES.actions.get(prefix)
        if route is None or (route.dialog is not None and turn.state.dialog != route.dialog):
            return [Reply(text=turn.t("button.stale"))]  # e.g. a press on an old dialog
        if route.dialog is None:
            turn.state.clear_dialog()  # any other button leaves a half-finished dialog
        return await route.handle(turn, rest)

    async def _finish(
        self, turn: Turn, uow: UnitOfWork, replies: list[Reply], caps: ChannelCapabilities
    ) -> list[Reply]:
        """Swap actions for stored tokens; on channels without buttons, number the choices.

        Within one dialog a number keeps its meaning from one reply to the next (issue 19):
        a choice shown again keeps its number, and a new choice never takes a number the
        previous reply offered (so the "1" that picked a class cannot cancel a step later).
        """
        menu: dict[str, str] = {}
        previous = self._dialog_numbers(turn) if not caps.buttons else {}
        numbers: dict[str, int] = {}
        finished = []
        for reply in replies:
            if turn.incoming.is_group and reply.private_only:
                reply = Reply(text=turn.t("group.private_only"), to_private=True)
            if not reply.buttons:
                finished.append(reply)
                continue
            rows = await with_tokens(uow, turn.key, reply.buttons, now=turn.now())
            if caps.buttons:
                finished.append(dataclasses.replace(reply, buttons=rows))
                continue
            lines = [reply.text, ""]
            for row in rows:
                for button in row:
                    if button.action not in numbers:
                        numbers[button.action] = previous.get(button.action) or _free_number(
                            {*previous.values(), *numbers.values()}
                        )
                    number = str(numbers[button.action])
                    menu[number] = button.token
                    lines.append(f"{number}. {button.label}")
            lines.append(turn.t("menu.type_number"))
            finished.append(dataclasses.replace(reply, text="\n".join(lines), buttons=()))
        if not caps.buttons:
            if turn.state.dialog is not None:
                menu[MENU_DIALOG] = turn.state.dialog
                menu[MENU_NUMBERS] = json.dumps(numbers, sort_keys=True)
            turn.state.menu = menu
        return finished

    @staticmethod
    def _dialog_numbers(turn: Turn) -> dict[str, int]:
        """The numbers the previous reply gave its choices, in the dialog still open."""
        menu = turn.state.menu
        if turn.state.dialog is None or menu.get(MENU_DIALOG) != turn.state.dialog:
            return {}
        try:
            loaded = json.loads(menu.get(MENU_NUMBERS, "{}"))
        except ValueError:
            return {}
        return {str(k): int(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _free_number(taken: set[int]) -> int:
    number = 1
    while number in taken:
        number += 1
    return number
