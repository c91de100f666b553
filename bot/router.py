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
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from bot.domain.absence import parse_dates, parse_decision
from bot.domain.errors import BackendError, ConcurrentTurn
from bot.domain.text import clean, fold
from bot.i18n import normalise_locale
from bot.messages import Button, ChannelCapabilities, ConversationKey, Incoming, Reply
from bot.ports import LinkRole, UnitOfWork, UnitOfWorkFactory
from bot.throttle import Throttle, Verdict
from bot.turn import CoreServices, Turn
from dialogs import absence_request, notice, settings, verify_parent, welcome
from handlers import absence, account, attendance, fees, scores, timetable
from handlers.common import parse_query_action, with_data_age
from handlers.intents import IntentName, match, parse_cancel_request

log = logging.getLogger(__name__)

MAX_TEXT = 1000  # longer messages are read up to here; nobody types a question this long
BUTTON_TTL = dt.timedelta(days=7)

QUERY_HANDLERS = {
    "scores": scores.handle,
    "timetable": timetable.handle,
    "fees": fees.handle,
    "attendance": attendance.handle,
}


class DialogModule(Protocol):
    """A dialog is a module with these two functions (see ``dialogs/verify_parent.py``)."""

    async def handle(self, turn: Turn) -> list[Reply]: ...

    def reminder(self, turn: Turn) -> list[Reply]: ...


DIALOGS: dict[str, DialogModule] = {
    verify_parent.NAME: verify_parent,
    absence_request.NAME: absence_request,
    absence.REJECT_DIALOG: absence.RejectReasonDialog,
    settings.NAME: settings,
    notice.NAME: notice,
}
# Button prefixes of the dialogs that own them: a press outside that dialog is stale.
DIALOG_ACTIONS: dict[str, tuple[str, DialogModule]] = {
    "s:": (settings.NAME, settings),
    "n:": (notice.NAME, notice),
    absence_request.ACTION: (absence_request.NAME, absence_request),
}


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
                replies = with_data_age(turn, await self._dispatch(turn, caps))
            except BackendError as err:
                log.warning("school system error for %s: %s", incoming.key, type(err).__name__)
                replies = [Reply(text=turn.t(err.message_key))]
            replies = await self._finish(turn, uow, replies, caps)
            if not turn.forgotten:
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
        if not token and not caps.buttons and turn.text in turn.state.menu:
            token = turn.state.menu[turn.text]
        if token:
            resolved = await self._resolve(turn, token)
            if isinstance(resolved, list):
                return resolved
            turn.action = resolved
            turn.text = ""
            return await self._on_action(turn)
        if not turn.text:
            return [Reply(text=turn.t("common.text_only"))]

        intent = match(turn.text)
        # 2. commands that work everywhere, even in the middle of a dialog
        if intent.name is IntentName.CANCEL and parse_cancel_request(intent.folded) is None:
            had_dialog = turn.state.dialog is not None
            turn.state.clear_dialog()
            return [
                Reply(text=turn.t("common.cancelled" if had_dialog else "common.nothing_to_cancel"))
            ]
        if intent.name is IntentName.START:
            turn.state.clear_dialog()
            return await welcome.start(turn)
        if intent.name is IntentName.FORGET:
            return account.forget_confirm(turn)
        if intent.name is IntentName.LANG:
            return account.language_menu(turn)
        if intent.name is IntentName.HELP and turn.text.startswith("/"):
            turn.state.clear_dialog()
            return await account.help_menu(turn)
        # A teacher's typed decision ("duyet 12", "tu choi 12 lý do") on any channel.
        decision = parse_decision(turn.text)
        if decision is not None:
            verb, request_id, reason = decision
            if turn.state.dialog == absence.REJECT_DIALOG:
                turn.state.clear_dialog()
            if verb == "approve":
                return await absence.approve(turn, request_id)
            return await absence.reject(turn, request_id, reason)
        cancel_id = parse_cancel_request(fold(turn.text))
        if cancel_id is not None:
            return await absence.cancel(turn, cancel_id)
        # 3. the active dialog owns the rest of the text
        dialog = DIALOGS.get(turn.state.dialog or "")
        if dialog is not None:
            if turn.text.startswith("/"):
                return dialog.reminder(turn)
            return await dialog.handle(turn)
        # 4. a question
        return await self._on_intent(turn, intent.name, intent.folded, intent.code)

    @staticmethod
    def _in_group(turn: Turn) -> list[Reply]:
        """A group chat gets no personal data and takes no decision, whoever writes: one gate
        before anything is loaded (links, dialogs, buttons, typed approvals). A command or a
        question addressed to the bot gets one short line pointing to the private chat; other
        chatter in the group is left alone."""
        turn.state.clear_dialog()
        turn.state.menu = {}
        if turn.incoming.button_token:
            return [Reply(text=turn.t("group.private_only"), notice=True)]
        intent = match(turn.text)
        chatter = (
            intent.name is IntentName.UNKNOWN
            and not turn.text.startswith("/")
            and parse_decision(turn.text) is None
            and parse_cancel_request(fold(turn.text)) is None
        )
        if chatter:
            return []
        return [Reply(text=turn.t("group.private_only"))]

    async def _on_intent(self, turn: Turn, name: IntentName, folded: str, code: str) -> list[Reply]:
        if name is IntentName.ABSENCE:
            return await absence_request.start(turn, text=turn.text)
        if name is IntentName.MY_REQUESTS:
            return await absence.my_requests(turn)
        if name is IntentName.PENDING:
            return await absence.pending_list(turn)
        if name is IntentName.CLASS_ABSENT or (
            name is IntentName.ATTENDANCE and await self._staff_only(turn)
        ):
            if not await self._is_staff(turn):
                return await absence_request.start(turn, text=turn.text)
            if name is IntentName.ATTENDANCE and parse_dates(folded, turn.today()) is None:
                return await absence.pupil_total(turn, folded)
            dates = parse_dates(folded, turn.today())
            return await absence.absent_on(turn, dates[0] if dates else turn.today())
        if name.value in QUERY_HANDLERS:
            return await QUERY_HANDLERS[name.value](turn, folded=folded)
        if name is IntentName.LINK:
            return await verify_parent.start(turn)
        if name is IntentName.CODE:
            return await verify_parent.start(turn, code=code)
        if name is IntentName.HELP:
            return await account.help_menu(turn)
        if name is IntentName.SETTINGS:
            return await settings.start(turn)
        if name is IntentName.NOTICE:
            return await notice.start(turn)
        return await account.help_menu(turn, unknown=True)

    @staticmethod
    async def _is_staff(turn: Turn) -> bool:
        return any(link.role is LinkRole.STAFF for link in await turn.links())

    @staticmethod
    async def _staff_only(turn: Turn) -> bool:
        return await Router._is_staff(turn) and not await turn.guardian_links()

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
        if turn.now() - created_at > BUTTON_TTL:
            return [Reply(text=turn.t("button.stale"))]
        return action

    async def _on_action(self, turn: Turn) -> list[Reply]:
        action = turn.action
        if action.startswith("v:"):
            if turn.state.dialog != verify_parent.NAME:
                return [Reply(text=turn.t("button.stale"))]
            return await verify_parent.handle(turn)
        owner = next((v for p, v in DIALOG_ACTIONS.items() if action.startswith(p)), None)
        if owner is not None:
            if turn.state.dialog != owner[0]:
                return [Reply(text=turn.t("button.stale"))]
            return await owner[1].handle(turn)
        # Any other button leaves a half-finished dialog: the user chose something else.
        turn.state.clear_dialog()
        if action.startswith("menu:"):
            name = action.removeprefix("menu:")
            if name == "add_child":
                return await verify_parent.start(turn)
            if name == "lang":
                return account.language_menu(turn)
            if name == "absence":
                return await absence_request.start(turn)
            if name == "settings":
                return await settings.start(turn)
            if name == "notice":
                return await notice.start(turn)
            if name == "my_requests":
                return await absence.my_requests(turn)
            if name == "pending":
                return await absence.pending_list(turn)
            if name == "class_absent":
                return await absence.absent_on(turn, turn.today())
            if name in QUERY_HANDLERS:
                return await QUERY_HANDLERS[name](turn)
        decided = absence.decision_action(action)
        if decided is not None:
            verb, request_id = decided
            if verb == "ok":
                return await absence.approve(turn, request_id)
            if verb == "no":
                return await absence.ask_reject_reason(turn, request_id)
            if verb == "nr":
                return await absence.reject(turn, request_id, "")
            if verb == "keep":
                return [Reply(text=turn.t("absence.kept", id=request_id), edit=True)]
            if verb == "cancel":
                return await absence.cancel(turn, request_id)
        if action.startswith("lang:"):
            return account.set_language(turn, action.removeprefix("lang:"))
        if action == "forget:yes":
            return await account.forget(turn)
        if action == "forget:no":
            return [Reply(text=turn.t("forget.kept"), edit=True)]
        query = parse_query_action(action)
        if query is not None and query[0] in QUERY_HANDLERS:
            intent, student_id, arg = query
            return await QUERY_HANDLERS[intent](turn, student_id=student_id, arg=arg)
        return [Reply(text=turn.t("button.stale"))]

    async def _finish(
        self, turn: Turn, uow: UnitOfWork, replies: list[Reply], caps: ChannelCapabilities
    ) -> list[Reply]:
        """Swap actions for stored tokens; on channels without buttons, number the choices."""
        menu: dict[str, str] = {}
        finished = []
        for reply in replies:
            if turn.incoming.is_group and reply.private_only:
                reply = Reply(text=turn.t("group.private_only"))
            if not reply.buttons:
                finished.append(reply)
                continue
            actions = [b.action for row in reply.buttons for b in row]
            tokens = iter(await uow.buttons.issue(turn.key, actions, now=turn.now()))
            rows = tuple(
                tuple(Button(label=b.label, action=b.action, token=next(tokens)) for b in row)
                for row in reply.buttons
            )
            if caps.buttons:
                finished.append(dataclasses.replace(reply, buttons=rows))
                continue
            lines = [reply.text, ""]
            for row in rows:
                for button in row:
                    number = str(len(menu) + 1)
                    menu[number] = button.token
                    lines.append(f"{number}. {button.label}")
            lines.append(turn.t("menu.type_number"))
            finished.append(dataclasses.replace(reply, text="\n".join(lines), buttons=()))
        if not caps.buttons:
            turn.state.menu = menu
        return finished
